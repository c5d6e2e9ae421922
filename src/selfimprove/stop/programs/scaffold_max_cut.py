import random

SETTINGS = dict(restarts=1, sweeps=0)
DOMAIN = dict(restarts=(1, 2, 4, 8, 16), sweeps=(0, 1, 2, 4))


def algorithm(n_nodes, edges):
    """Local search: SETTINGS["restarts"] random splits, each improved by SETTINGS["sweeps"] passes that move
    any node whose move enlarges the cut; the best cut found."""
    rng = random.Random(0)
    neighbours = [[] for _ in range(n_nodes)]
    for a, b, w in edges:
        neighbours[a].append((b, w))
        neighbours[b].append((a, w))
    best, best_cut = None, -1
    for _ in range(SETTINGS["restarts"]):
        side = [rng.randint(0, 1) for _ in range(n_nodes)]
        for _ in range(SETTINGS["sweeps"]):
            for v in range(n_nodes):
                gain = sum(w if side[u] == side[v] else -w for u, w in neighbours[v])
                if gain > 0:
                    side[v] = 1 - side[v]
        cut = sum(w for a, b, w in edges if side[a] != side[b])
        if cut > best_cut:
            best, best_cut = side, cut
    return best
