"""Task `arith`: the embedded arithmetic world (see arith_world.py), no download needed.

Prompt `Q: <question>\\nA:`; the model answers with an equation chain ending in `The answer is N.`
Strict extraction takes the number of `The answer is N`; flexible extraction takes the last number.
"""

from __future__ import annotations

import re
from functools import cache

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import arith_world as world
from selfimprove.types import ExtractMode, Problem, Prompt
from selfimprove.verify.steps import StepCheck, check_steps

DEFAULT_SIZES = {"seed": 20000, "improve": 2000, "test": 500, "ood": 500, "compositional": 300}
STRICT = re.compile(r"The answer is (-?\d+)")
NUMBER = re.compile(r"-?\d+")


def prompt_of(question: str) -> str:
    return f"Q: {question}\nA:"


@cache
def _problems(split: str, count: int, seed: int) -> tuple[Problem, ...]:
    if split == "compositional":
        return tuple(_composed(i, p, seed) for i, p in enumerate(world.compositional_problems(count, seed)))
    return tuple(_plain(split, i, p, seed) for i, p in enumerate(world.split_problems(split, count, seed)))


def _plain(split: str, index: int, p: world.WordProblem, seed: int) -> Problem:
    meta = {
        "split": split,
        "source": "arith",
        "difficulty": len(p.steps),
        "max_number": max([p.start] + [s.operand for s in p.steps]),
        "solution": p.solution(),
        "question": p.question(),
    }
    return Problem(f"arith-{seed}-{split}-{index}", prompt_of(p.question()), str(p.answer), meta)


def _composed(index: int, pair: world.ComposedProblem, seed: int) -> Problem:
    """A composed pair; metadata carries Q1 alone and Q2 alone (X replaced by its value) for S1 and S2."""
    meta = {
        "split": "compositional",
        "source": "arith",
        "difficulty": len(pair.q1.steps) + len(pair.q2.steps),
        "q1_prompt": prompt_of(pair.q1.question()),
        "q1_gold": str(pair.q1.answer),
        "q2_prompt": prompt_of(pair.q2.question()),
        "q2_gold": str(pair.q2.answer),
    }
    return Problem(f"arith-{seed}-compositional-{index}", prompt_of(pair.prompt_text()), str(pair.q2.answer), meta)


class ArithTask:
    """Generated arithmetic word problems; splits seed (labeled, 1-2 steps), improve (1-3), test (1-3,
    disjoint), ood (4-5 steps, operands up to 30) and compositional (pairs chained through X)."""

    name = "arith"
    correction = correction.SOLUTION  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = "A:"  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("seed", "improve", "test", "ood", "compositional")

    def __init__(self, seed: int = 0, sizes: dict[str, int] | None = None, data_dir: str | None = None) -> None:
        unknown = set(sizes or {}) - set(self.splits)
        if unknown:
            raise UserError(f"arith: unknown split(s) in sizes: {sorted(unknown)}; splits are {list(self.splits)}")
        self.seed = seed
        self.sizes = {**DEFAULT_SIZES, **(sizes or {})}

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"arith has no split {split!r}; choose one of {list(self.splits)}")
        count = self.sizes[split] if limit is None else min(limit, self.sizes[split])
        try:
            return list(_problems(split, count, self.seed))
        except ValueError as e:
            raise UserError(f"arith: {e}") from None

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """Zero-shot `Q: ...\\nA:`; with shots, worked examples from the labeled seed split come first."""
        if shots <= 0:
            return problem.prompt
        exemplars = self.load("seed", shots)
        blocks = [f"{e.prompt} {e.metadata['solution']}\n\n" for e in exemplars]
        return "".join(blocks) + str(problem.prompt)

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        if mode == "strict":
            match = STRICT.search(text)
            return match.group(1) if match else None
        numbers = NUMBER.findall(text)
        return numbers[-1] if numbers else None

    def check_steps(self, text: str) -> StepCheck:
        """Every equation of the chain exactly, and the stated answer against the last equation's result."""
        return check_steps(text, answer=self.extract(text, "strict"))

    def verify(self, answer: str | None, gold: str) -> bool:
        if answer is None:
            return False
        try:
            return int(answer) == int(gold)
        except ValueError:
            return False
