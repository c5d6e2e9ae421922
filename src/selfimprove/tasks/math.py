"""Task `math`: competition mathematics (Hendrycks et al. 2021, arXiv 2103.03874) and its MATH-500 subset
(the 500 test problems of PRM800K, Lightman et al. 2023, arXiv 2305.20050).

Answers are the content of the last `\\boxed{...}` (braces matched, so `\\boxed{\\frac{1}{2}}` works), as in
the MATH release's own `last_boxed_only_string`. Equivalence is decided by math-verify (`parse` + `verify`),
which handles fractions vs decimals, reordered sums, tuples, intervals, sets and `\\text{}` answers.
Strict extraction needs a `\\boxed{}`; flexible extraction falls back to math-verify's own search of the
text (e.g. a final `$x = 3$`). Metadata carries `level` (1-5, None for the two train items marked "Level ?")
and `subject`.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.types import ExtractMode, Problem, Prompt
from selfimprove.verify.steps import StepCheck, check_steps

SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus")  # fmt: skip
_MATH = "the MATH release (hendrycks/math) as <split>/<subject>/<n>.json, or one JSON object per line"
SOURCES = {
    split: data.Source(
        (f"{split}.jsonl", split), tuple(data.HubSplit("EleutherAI/hendrycks_math", s, split) for s in SUBJECTS), _MATH
    )
    for split in ("train", "test")
} | {
    "math500": data.Source(
        ("math500_test.jsonl", "math500.jsonl"),
        (data.HubSplit("HuggingFaceH4/MATH-500", None, "test"),),
        "PRM800K prm800k/math_splits/test.jsonl (openai/prm800k), renamed math500_test.jsonl",
    )
}
INSTRUCTION = "Solve the following problem. Put the final answer in \\boxed{}.\n\n"


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` or `\\fbox{...}` (nested braces matched), or of `\\boxed 5`."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:].removeprefix("\\boxed").removeprefix("\\fbox")
    if rest.startswith(" "):  # `\boxed 5`: the argument runs to the next `$` or whitespace
        return rest.strip().split("$")[0].split()[0] if rest.strip() else None
    if not rest.startswith("{"):
        return None
    depth = 0
    for i, char in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return rest[1:i].strip()
    return None  # unbalanced: the completion was cut off inside the box


def _timeout() -> int | None:
    # math-verify times out with signal.alarm, which only works in the main thread; elsewhere it must be off.
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parsed(answer: str) -> tuple[Any, ...]:
    from math_verify import parse  # lazy: math-verify pulls in sympy and an ANTLR parser

    return tuple(parse(f"\\boxed{{{answer}}}", parsing_timeout=_timeout()))


def equivalent(answer: str, gold: str) -> bool:
    """math-verify equivalence of two answers written in LaTeX (gold first: its `verify` is not symmetric)."""
    from math_verify import verify

    gold_parsed, answer_parsed = _parsed(gold), _parsed(answer)
    if not gold_parsed or not answer_parsed:
        return False
    return bool(verify(list(gold_parsed), list(answer_parsed), timeout_seconds=_timeout()))


def level_of(value: Any) -> int | None:
    """MATH writes "Level 3" (and "Level ?" twice); MATH-500 writes 3."""
    text = str(value).removeprefix("Level").strip()
    return int(text) if text.isdigit() else None


def to_problem(split: str, index: int, row: dict[str, Any]) -> Problem:
    gold = row.get("answer") or last_boxed(row["solution"])
    if gold is None:
        raise UserError(f"math {split} row {index}: the solution has no \\boxed{{}} answer")
    level = level_of(row.get("level"))
    meta = {
        "split": split,
        "source": "math500" if split == "math500" else "math",
        "difficulty": level,
        "level": level,
        "subject": row.get("subject") or row.get("type"),
        "question": row["problem"],
        "solution": row["solution"],
    }
    problem_id = row.get("unique_id") or f"{split}/{index}"
    return Problem(f"math-{problem_id}", f"{INSTRUCTION}Problem:\n{row['problem']}\n\nSolution:", gold, meta)


class MATHTask:
    """MATH train (7,500), test (5,000) and math500 (the PRM800K 500-problem test subset).
    Options: data_dir, seed (few-shot choice), hub (allow download)."""

    name = "math"
    correction = correction.SOLUTION  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = "Solution:"  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("train", "test", "math500")
    stop = ("\nProblem:",)

    def __init__(self, data_dir: str | None = None, seed: int = 1234, hub: bool = True) -> None:
        self.data_dir, self.seed, self.hub = data_dir, seed, hub
        # MATH train repeats one test problem: the store never shows a train item found in test or math500
        self.store = data.SplitStore(self.name, self.splits, SOURCES, to_problem, data_dir, hub, seed,
                                     ("test", "math500"))

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        return self.store.load(split, limit)

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """Zero-shot: the instruction and the problem. Few-shot: train problems with their full solutions."""
        if shots <= 0:
            return problem.prompt
        exemplars = self.exemplars(problem, shots)
        blocks = [f"Problem:\n{e.metadata['question']}\n\nSolution:\n{e.metadata['solution']}" for e in exemplars]
        return "\n\n".join([*blocks, f"Problem:\n{problem.metadata['question']}\n\nSolution:"])

    def exemplars(self, problem: Problem, shots: int) -> list[Problem]:
        """The train problems shown before `problem`: the same for every problem given `seed`, never itself."""
        return self.store.exemplars(problem, shots)

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        boxed = last_boxed(text)
        if boxed is not None or mode == "strict":
            return boxed
        from math_verify import parse

        found = parse(text, parsing_timeout=_timeout())
        return str(found[-1]) if found else None

    def check_steps(self, text: str) -> StepCheck:
        """Every arithmetic statement with numeric operands in the chain of thought (simple LaTeX read)."""
        return check_steps(text, latex=True)

    def verify(self, answer: str | None, gold: str) -> bool:
        return answer is not None and answer != "" and equivalent(answer, gold)
