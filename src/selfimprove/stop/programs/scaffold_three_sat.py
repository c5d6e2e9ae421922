import random

SETTINGS = dict(flips=10, noise=0)
DOMAIN = dict(flips=(0, 10, 30, 100, 300, 1000), noise=(0, 2, 4, 6, 8))


def algorithm(formula, n_variables):
    """WalkSAT: from a random assignment, up to SETTINGS["flips"] times pick an unsatisfied clause and flip one
    of its variables: a random one with probability SETTINGS["noise"] / 10, else the one leaving the fewest
    clauses unsatisfied."""
    rng = random.Random(0)
    values = [rng.random() < 0.5 for _ in range(n_variables)]

    def unsatisfied():
        return [c for c in formula if not any(values[abs(k) - 1] == (k > 0) for k in c)]

    def after_flip(variable):
        values[variable - 1] = not values[variable - 1]
        count = len(unsatisfied())
        values[variable - 1] = not values[variable - 1]
        return count

    for _ in range(SETTINGS["flips"]):
        open_clauses = unsatisfied()
        if not open_clauses:
            break
        clause = rng.choice(open_clauses)
        if rng.random() < SETTINGS["noise"] / 10:
            variable = abs(rng.choice(clause))
        else:
            variable = min((abs(k) for k in clause), key=after_flip)
        values[variable - 1] = not values[variable - 1]
    return values
