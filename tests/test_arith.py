"""The embedded arithmetic world: deterministic, correct answers, disjoint splits, extraction."""

from __future__ import annotations

import re

import pytest

from selfimprove.errors import UserError
from selfimprove.tasks import get_task

SIZES = {"seed": 300, "improve": 300, "test": 200, "ood": 100, "compositional": 50}
START = re.compile(r"has (\d+|X) \w+\.")
OPS = [
    (re.compile(r"(?:gets|buys|finds) (\d+) more\."), lambda v, n: v + n),
    (re.compile(r"(?:gives away|loses|sells) (\d+)\."), lambda v, n: v - n),
    (re.compile(r"then has (\d+) times as many\."), lambda v, n: v * n),
    (re.compile(r"splits them into (\d+) equal groups"), lambda v, n: v / n),
]


def solve(question: str, x: int | None = None) -> float:
    """Re-derive the answer from the question text alone, independently of the generator."""
    start = START.search(question).group(1)
    value: float = x if start == "X" else int(start)
    for sentence in re.split(r"(?<=\.) ", question)[1:]:
        for pattern, apply in OPS:
            m = pattern.search(sentence)
            if m:
                value = apply(value, int(m.group(1)))
    return value


@pytest.fixture(scope="module")
def task():
    return get_task("arith", sizes=SIZES)


@pytest.mark.parametrize("split", ["seed", "improve", "test", "ood"])
def test_answers_are_correct(task, split):
    for p in task.load(split):
        assert solve(p.metadata["question"]) == int(p.gold), p.prompt
        # every equation of the reference solution is true, and the chain ends at the gold answer
        for a, op, b, c in re.findall(r"(\d+)([-+*/])(\d+)=(\d+)", p.metadata["solution"]):
            assert eval(f"{a}{op}{b}") == int(c)
        assert p.metadata["solution"].endswith(f"The answer is {p.gold}.")
        assert int(p.gold) >= 0


def test_deterministic_and_seeded(task):
    again = get_task("arith", sizes=SIZES)
    assert task.load("test") == again.load("test")
    other = get_task("arith", seed=1, sizes=SIZES)
    assert [p.prompt for p in other.load("test")] != [p.prompt for p in task.load("test")]


def test_splits_disjoint_and_shaped(task):
    questions = {s: {p.metadata["question"] for p in task.load(s)} for s in ("seed", "improve", "test")}
    assert not questions["test"] & questions["seed"]
    assert not questions["test"] & questions["improve"]
    assert not questions["seed"] & questions["improve"]
    steps = {s: {p.metadata["difficulty"] for p in task.load(s)} for s in ("seed", "improve", "test", "ood")}
    assert steps == {"seed": {1, 2}, "improve": {1, 2, 3}, "test": {1, 2, 3}, "ood": {4, 5}}


def test_compositional_gold_recomputed(task):
    for p in task.load("compositional"):
        q1, q2 = p.metadata["q1_prompt"], p.metadata["q2_prompt"]
        x = solve(q1)
        assert x == int(p.metadata["q1_gold"])
        # Q2 with X in the pair prompt gives the same answer as Q2 alone with X's value written in
        q2_with_x = p.prompt.split("Q2: ", 1)[1]
        assert solve(q2_with_x, x=int(x)) == int(p.gold) == solve(q2)
        assert "X" in q2_with_x and "Let X be the answer to the Q1" in p.prompt


def test_extraction_strict_and_flexible(task):
    text = " 12+7=19. 19-5=14. The answer is 14."
    assert task.extract(text, "strict") == "14"
    assert task.extract(" 12+7=19. 19-5=14.", "strict") is None
    assert task.extract(" 12+7=19. 19-5=14.", "flexible") == "14"
    assert task.extract("no numbers", "flexible") is None
    assert task.verify("14", "14") and not task.verify("15", "14") and not task.verify(None, "14")


def test_few_shot_uses_seed_split(task):
    problem = task.load("test", 1)[0]
    prompt = task.format_prompt(problem, shots=2)
    seed = task.load("seed", 2)
    assert prompt.startswith(seed[0].prompt) and seed[1].metadata["solution"] in prompt
    assert prompt.endswith(problem.prompt)


def test_bad_split_and_sizes():
    with pytest.raises(UserError, match="no split"):
        get_task("arith").load("train")
    with pytest.raises(UserError, match="unknown split"):
        get_task("arith", sizes={"tset": 3})
