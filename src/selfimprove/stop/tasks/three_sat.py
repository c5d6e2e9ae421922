"""3-SAT (STOP's transfer task, Zelikman et al. 2024 sec. 5.2): find an assignment satisfying every clause
of a random satisfiable formula (planted assignment) with 20 variables and 85 clauses (near the 4.26
ratio where random 3-SAT is hardest); an instance scores 1 when all clauses hold, else 0."""

from __future__ import annotations

import random

from selfimprove.stop.tasks import DownstreamTask, Instance

VARIABLES, CLAUSES = 20, 85


def make(rng: random.Random) -> Instance:
    planted = [rng.random() < 0.5 for _ in range(VARIABLES)]
    formula: list[list[int]] = []
    while len(formula) < CLAUSES:
        names = rng.sample(range(1, VARIABLES + 1), 3)
        clause = [v if rng.random() < 0.5 else -v for v in names]
        if any(planted[abs(lit) - 1] == (lit > 0) for lit in clause):  # keep only clauses the plant satisfies
            formula.append(clause)
    return {"args": [formula, VARIABLES], "truth": None}


SEED_SOLUTION = '''import random

def algorithm(formula, n_variables):
    """Return a list of n_variables booleans: the value of variables 1..n_variables (a literal k > 0 is
    variable k, -k is its negation); every clause (3 literals) must have a true literal."""
    return [random.random() < 0.5 for _ in range(n_variables)]
'''

UTILITY_STR = '''def utility(algorithm_str: str):
    """3-SAT: the fraction of random satisfiable formulas (20 variables, 85 clauses of 3 literals; literal
    k > 0 means variable k is true, -k that it is false) whose every clause the returned assignment
    satisfies. An instance that takes over 2 s scores 0."""
    exec(algorithm_str, globals())  # defines algorithm(formula, n_variables) -> list of n_variables bools
    solved = 0
    for formula, n_variables in instances:
        assignment = algorithm(formula, n_variables)
        solved += all(any(assignment[abs(k) - 1] == (k > 0) for k in clause) for clause in formula)
    return solved / len(instances)
'''

SCORER = '''
def check(output, truth, args):
    formula, n = args
    values = [bit(v) for v in as_list(output, n)]
    return float(all(any(values[abs(k) - 1] == (k > 0) for k in clause) for clause in formula))
'''

TASK = DownstreamTask(
    name="three_sat",
    about="3-SAT: 20 variables, 85 clauses, planted satisfiable; 1 per solved formula",
    seed_solution=SEED_SOLUTION, utility_str=UTILITY_STR, make=make, scorer=SCORER,
)
