"""The embedded arithmetic world: seeded multi-step word problems with known answers.

A problem is a running quantity that one entity's objects go through: it starts at a number and each
step adds, subtracts, multiplies or divides (exact division only). Difficulty is the number of steps and
the magnitude of the numbers. Consecutive additions and subtractions commute, so a problem admits more
than one valid solution path; the number of distinct correct equation sets is therefore a meaningful
measure of logical diversity (Wu et al. 2024, Sec. 4.2).

Splits: `seed` (labeled, the seed model's pretraining corpus: 1-2 steps), `improve` (1-3 steps, what a
self-improvement loop samples and trains on: the 3-step problems lie just beyond the seed split), `test`
(like improve, disjoint), `ood` (4-5 steps, operands up to 30) and `compositional` (pairs of test problems
chained through X). Beyond solving, the world generates the data of four more skills with ground truth
(judge, pose, revise, compose; selfimprove.tasks.arith_skills), mixed into the seed model's corpus.

Everything is deterministic from (split, index, seed). Which split a problem may belong to is decided by
a hash of its text, so `test` is disjoint from `seed` and `improve` without either split depending on the
size of the others.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gus", "Hana")
PRONOUN = {"Ann": "She", "Ben": "He", "Cara": "She", "Dan": "He", "Eva": "She", "Finn": "He", "Gus": "He", "Hana": "She"}
OBJECTS = ("apples", "books", "coins", "cards", "eggs", "pens", "shells", "stamps")

# Sentence templates per operation; {p} is the pronoun, {n} the operand.
TEMPLATES = {
    "+": ("{p} gets {n} more.", "{p} buys {n} more.", "{p} finds {n} more."),
    "-": ("{p} gives away {n}.", "{p} loses {n}.", "{p} sells {n}."),
    "*": ("{p} then has {n} times as many.",),
    "/": ("{p} splits them into {n} equal groups and keeps one group.",),
}


@dataclass(frozen=True)
class SplitSpec:
    """Shape of one split: step counts, operand range, the hash buckets (of 10) its problems come from."""

    min_steps: int
    max_steps: int
    max_operand: int
    buckets: tuple[int, ...]
    max_value: int = 999


SPLITS: dict[str, SplitSpec] = {
    "seed": SplitSpec(1, 2, 20, (2, 3, 4)),
    "improve": SplitSpec(1, 3, 20, (5, 6, 7, 8, 9)),
    "test": SplitSpec(1, 3, 20, (0, 1)),
    "ood": SplitSpec(4, 5, 30, tuple(range(10))),
}


@dataclass(frozen=True)
class Step:
    op: str
    operand: int
    before: int
    after: int

    def equation(self) -> str:
        return f"{self.before}{self.op}{self.operand}={self.after}"


@dataclass(frozen=True)
class WordProblem:
    """A generated problem: its question text, the steps behind it, and the answer."""

    name: str
    obj: str
    start: int
    steps: tuple[Step, ...]
    sentences: tuple[str, ...]

    @property
    def answer(self) -> int:
        return self.steps[-1].after

    def question(self, start_text: str | None = None) -> str:
        """The question; `start_text` replaces the starting number (used for compositional problems)."""
        first = f"{self.name} has {start_text or self.start} {self.obj}."
        ask = f"How many {self.obj} does {self.name} have now?"
        return " ".join((first, *self.sentences, ask))

    def solution(self) -> str:
        """Reference solution: one equation per step, then the answer sentence."""
        chain = " ".join(f"{s.equation()}." for s in self.steps)
        return f"{chain} The answer is {self.answer}."


def _bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10


def _next_step(rng: random.Random, value: int, spec: SplitSpec) -> tuple[str, int, int]:
    """Pick a valid operation on `value`: subtraction stays >= 0, division is exact, values stay bounded."""
    ops = ["+", "-", "+", "-", "*", "/"]
    rng.shuffle(ops)
    for op in ops:
        if op == "+":
            n = rng.randint(1, spec.max_operand)
            if value + n <= spec.max_value:
                return op, n, value + n
        elif op == "-" and value >= 1:
            n = rng.randint(1, min(value, spec.max_operand))
            return op, n, value - n
        elif op == "*" and 0 < value * 2 <= spec.max_value:
            n = rng.choice([k for k in (2, 3, 4) if value * k <= spec.max_value])
            return op, n, value * n
        elif op == "/":
            divisors = [k for k in (2, 3, 4, 5) if value % k == 0 and value > 0]
            if divisors:
                n = rng.choice(divisors)
                return op, n, value // n
    n = rng.randint(1, spec.max_operand)
    return "+", n, value + n


def generate(rng: random.Random, num_steps: int, spec: SplitSpec) -> WordProblem:
    """One problem with exactly `num_steps` steps."""
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    value = start = rng.randint(1, spec.max_operand)
    steps, sentences = [], []
    for _ in range(num_steps):
        op, n, after = _next_step(rng, value, spec)
        steps.append(Step(op, n, value, after))
        sentences.append(rng.choice(TEMPLATES[op]).format(p=PRONOUN[name], n=n))
        value = after
    return WordProblem(name, obj, start, tuple(steps), tuple(sentences))


def split_problems(split: str, count: int, seed: int = 0) -> list[WordProblem]:
    """The first `count` problems of a split; step counts cycle evenly over the split's range."""
    return list(_split_problems(split, count, seed))


@cache
def _split_problems(split: str, count: int, seed: int) -> tuple[WordProblem, ...]:
    spec = SPLITS[split]
    rng = random.Random(f"arith-{split}-{seed}")
    seen: set[str] = set()
    out: list[WordProblem] = []
    span = spec.max_steps - spec.min_steps + 1
    for _ in range(200 * count + 1000):
        if len(out) == count:
            return tuple(out)
        problem = generate(rng, spec.min_steps + len(out) % span, spec)
        text = problem.question()
        if text in seen or _bucket(text) not in spec.buckets:
            continue
        seen.add(text)
        out.append(problem)
    if len(out) < count:
        raise ValueError(f"the {split!r} split has fewer than {count} distinct problems; ask for fewer")
    return tuple(out)


@dataclass(frozen=True)
class ComposedProblem:
    """Two problems chained as in Compositional GSM (Hosseini et al. 2024): Q1's answer is X, Q2 starts at X."""

    q1: WordProblem
    q2: WordProblem

    def prompt_text(self) -> str:
        return (
            f"Let X be the answer to the Q1:\nQ1: {self.q1.question()}\n"
            f"Solve it and use the value of X to solve Q2. Explain your answer step by step.\n"
            f"Q2: {self.q2.question(start_text='X')}"
        )


def compose(q1: WordProblem, q2: WordProblem) -> ComposedProblem:
    """Re-run Q2's steps from Q1's answer, so Q2's gold answer is recomputed, not guessed."""
    value, steps = q1.answer, []
    for s in q2.steps:
        after = {"+": value + s.operand, "-": value - s.operand, "*": value * s.operand}.get(s.op)
        if s.op == "/":
            after = value // s.operand
        steps.append(Step(s.op, s.operand, value, after))
        value = after
    return ComposedProblem(q1, WordProblem(q2.name, q2.obj, q1.answer, tuple(steps), q2.sentences))


def valid_pair(pair: ComposedProblem) -> bool:
    """Q2 re-run from X stays a problem of the world: it starts with + or * (valid for any X), never goes
    below zero, and divides exactly."""
    steps = pair.q2.steps
    return steps[0].op in "+*" and all(s.after >= 0 and (s.op != "/" or s.before % s.operand == 0) for s in steps)


def compositional_problems(count: int, seed: int = 0) -> list[ComposedProblem]:
    """Pairs of test-style problems whose chained answer stays a non-negative integer (exact division)."""
    rng = random.Random(f"arith-compositional-{seed}")
    pool = split_problems("test", max(4 * count, 200), seed)
    out: list[ComposedProblem] = []
    for _ in range(200 * count + 1000):
        if len(out) == count:
            return out
        pair = compose(*rng.sample(pool, 2))
        if valid_pair(pair):
            out.append(pair)
    raise ValueError(f"could not build {count} compositional pairs; ask for fewer")
