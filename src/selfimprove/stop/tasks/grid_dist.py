"""A string task (STOP's str_grid_dist, Zelikman et al. 2024 appendix A): given a string t over {A, B} and a
distance d, return a string s of the same length whose grid distance to t is exactly d (grid distance:
positions where s and t differ, plus the letter changes along s and along t). Exact: 1; otherwise
0.5 - |distance - d| / (6 len(t)), so in [0, 0.5)."""

from __future__ import annotations

import random

from selfimprove.stop.tasks import DownstreamTask, Instance


def grid_dist(s: str, t: str) -> int:
    return (
        sum(a != b for a, b in zip(s, t, strict=True))
        + sum(a != b for a, b in zip(s, s[1:]))
        + sum(a != b for a, b in zip(t, t[1:]))
    )


def make(rng: random.Random) -> Instance:
    length = rng.randint(1, 30)
    t = "".join(rng.choice("AB") for _ in range(length))
    s = "".join(rng.choice("AB") for _ in range(length))
    return {"args": [t, grid_dist(s, t)], "truth": None}


SEED_SOLUTION = '''def algorithm(t, dist):
    """Return a string s over "AB", as long as t, whose grid distance to t is dist."""
    return t
'''

UTILITY_STR = '''def utility(algorithm_str: str):
    """Grid distance: for each (t, dist), s = algorithm(t, dist) must be a string over "AB" as long as t
    with grid_dist(s, t) == dist, where grid_dist(s, t) counts the positions where s and t differ plus the
    letter changes along s and along t. Exact: 1.0, else 0.5 - abs(grid_dist(s, t) - dist) / (6 * len(t)).
    An instance that takes over 2 s scores 0. Returns the mean over instances."""
    exec(algorithm_str, globals())  # defines algorithm(t, dist) -> str
    total = 0.0
    for t, dist in instances:
        d = grid_dist(algorithm(t, dist), t)
        total += 1.0 if d == dist else 0.5 - abs(d - dist) / (6 * len(t))
    return total / len(instances)
'''

SCORER = '''
def check(output, truth, args):
    t, dist = args
    if type(output) is not str or len(output) != len(t) or set(output) - set("AB"):
        raise Malformed(f"returned {type(output).__name__} {output!r:.40}, not a string over AB as long as t")
    d = sum(a != b for a, b in zip(output, t)) + sum(a != b for a, b in zip(output, output[1:]))
    d += sum(a != b for a, b in zip(t, t[1:]))
    return 1.0 if d == dist else max(0.0, 0.5 - abs(d - dist) / (6 * len(t)))
'''

TASK = DownstreamTask(
    name="grid_dist",
    about="string task: a string over AB at an exact grid distance from t",
    seed_solution=SEED_SOLUTION, utility_str=UTILITY_STR, make=make, scorer=SCORER,
)
