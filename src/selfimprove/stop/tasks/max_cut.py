"""Max-cut (STOP's transfer task, Zelikman et al. 2024 sec. 5.2): split the nodes of a random weighted
graph (10 nodes, each edge present with probability 0.5, weights 1..10) in two; the score is the cut's
weight over the best cut's (found exactly on the host by enumeration)."""

from __future__ import annotations

import itertools
import random

from selfimprove.stop.tasks import DownstreamTask, Instance

NODES, P_EDGE = 10, 0.5


def best_cut(edges: list[list[int]]) -> int:
    """The maximum cut weight, by enumerating the 2^(n-1) splits (node 0 fixed on side 0)."""
    best = 0
    for rest in itertools.product((0, 1), repeat=NODES - 1):
        side = (0, *rest)
        best = max(best, sum(w for a, b, w in edges if side[a] != side[b]))
    return best


def make(rng: random.Random) -> Instance:
    edges = [[a, b, rng.randint(1, 10)] for a in range(NODES) for b in range(a + 1, NODES) if rng.random() < P_EDGE]
    return {"args": [NODES, edges], "truth": max(1, best_cut(edges))}


SEED_SOLUTION = '''import random

def algorithm(n_nodes, edges):
    """Return a list of n_nodes values in {0, 1}: the side of each node; edges are [a, b, weight]."""
    return [random.randint(0, 1) for _ in range(n_nodes)]
'''

UTILITY_STR = '''def utility(algorithm_str: str):
    """Max-cut: the weight of the returned cut over the best cut's, averaged over random graphs of 10
    nodes (each edge present with probability 0.5, integer weights 1..10, edges as [a, b, weight]).
    An instance that takes over 2 s scores 0."""
    exec(algorithm_str, globals())  # defines algorithm(n_nodes, edges) -> list of n_nodes sides (0 or 1)
    total = 0.0
    for n_nodes, edges, best in instances:
        side = algorithm(n_nodes, edges)
        total += sum(w for a, b, w in edges if side[a] != side[b]) / best
    return total / len(instances)
'''

SCORER = '''
def check(output, truth, args):
    n, edges = args
    side = [bit(s) for s in as_list(output, n)]
    return sum(w for a, b, w in edges if side[a] != side[b]) / truth
'''

TASK = DownstreamTask(
    name="max_cut",
    about="max-cut: 10-node weighted random graphs; cut weight over the exact best cut",
    seed_solution=SEED_SOLUTION, utility_str=UTILITY_STR, make=make, scorer=SCORER,
)
