import random

SETTINGS = dict(tries=1, steps=0)
DOMAIN = dict(tries=(1, 4, 16, 64), steps=(0, 1, 2, 4, 8, 16, 32))


def algorithm(t, dist):
    """Random search: SETTINGS["tries"] random strings over AB, each improved by up to SETTINGS["steps"]
    single-letter changes that bring its grid distance to t closer to dist; the closest string found."""
    rng = random.Random(0)

    def gap(s):
        d = sum(a != b for a, b in zip(s, t)) + sum(a != b for a, b in zip(s, s[1:]))
        return abs(d + sum(a != b for a, b in zip(t, t[1:])) - dist)

    best = None
    for _ in range(SETTINGS["tries"]):
        s = [rng.choice("AB") for _ in t]
        for _ in range(SETTINGS["steps"]):
            if gap(s) == 0:
                break
            moves = [s[:i] + ["B" if s[i] == "A" else "A"] + s[i + 1:] for i in range(len(s))]
            move = min(moves, key=gap)
            if gap(move) >= gap(s):
                break
            s = move
        if best is None or gap(s) < gap(best):
            best = s
    return "".join(best)
