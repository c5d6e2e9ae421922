"""Task `gsm8k`: grade-school math word problems (Cobbe et al. 2021, arXiv 2110.14168).

Each reference solution ends with `#### <answer>`; its lines are the reasoning steps, with calculator
annotations `<<48/2=24>>`. Extraction follows lm-evaluation-harness: strict takes the first `#### N` or
`The answer is N` (the gsm8k and gsm8k-cot formats), flexible takes the last number in the text; both are
scored by exact match after ignoring `,`, `$` and a trailing `.` (see numbers.py).

Prompts are chain of thought: `Question: ...\\nAnswer:`, zero-shot with one instruction line, or few-shot
with worked solutions drawn (deterministically from `seed`) from the train split, never the test split.
"""

from __future__ import annotations

import re

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.tasks.numbers import last_number, normalize_number, same_number
from selfimprove.types import ExtractMode, Problem, Prompt
from selfimprove.verify.steps import StepCheck, check_steps

REPO = "openai/grade-school-math, folder grade_school_math/data/"
SOURCES = {
    split: data.Source((f"{split}.jsonl",), (data.HubSplit("openai/gsm8k", "main", split),), REPO)
    for split in ("train", "test")
}
INSTRUCTION = 'Solve the problem step by step. End with a line "#### <number>" that gives the final answer.\n\n'
STRICT = re.compile(r"(?:####|The answer is)\s*(-?[0-9.,]+)")
CALCULATOR = re.compile(r"<<[^>]*>>")


def question_block(question: str) -> str:
    return f"Question: {question.strip()}\nAnswer:"


def worked_solution(solution: str) -> str:
    """A reference solution as shown in few-shot prompts: without the calculator annotations."""
    return CALCULATOR.sub("", solution).strip()


def to_problem(split: str, index: int, row: dict[str, str]) -> Problem:
    solution = row["answer"]
    if "####" not in solution:
        raise UserError(f"gsm8k {split} row {index}: answer has no '#### <number>' line")
    steps = [line for line in solution.split("####")[0].splitlines() if line.strip()]
    meta = {
        "split": split,
        "source": "gsm8k",
        # GSM8K has no official difficulty; the number of solution steps is the usual proxy (and the one
        # the arith world uses), so difficulty-disparity metrics can bin by it.
        "difficulty": len(steps),
        "question": row["question"],
        "solution": solution,
    }
    gold = normalize_number(solution.split("####")[-1])
    return Problem(f"gsm8k-{split}-{index}", INSTRUCTION + question_block(row["question"]), gold, meta)


class GSM8KTask:
    """GSM8K train (7,473) and test (1,319). Options: data_dir, seed (few-shot choice), hub (allow download)."""

    name = "gsm8k"
    correction = correction.SOLUTION  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = "Answer:"  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("train", "test")
    stop = ("Question:",)

    def __init__(self, data_dir: str | None = None, seed: int = 1234, hub: bool = True) -> None:
        self.data_dir, self.seed, self.hub = data_dir, seed, hub
        self.store = data.SplitStore(self.name, self.splits, SOURCES, to_problem, data_dir, hub, seed,
                                     ("test",))

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        return self.store.load(split, limit)

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """Zero-shot: the instruction and the question. Few-shot: `shots` train problems with their worked
        solutions (ending `#### N`), then the question."""
        if shots <= 0:
            return problem.prompt
        exemplars = self.exemplars(problem, shots)
        blocks = [
            f"{question_block(e.metadata['question'])} {worked_solution(e.metadata['solution'])}" for e in exemplars
        ]
        return "\n\n".join([*blocks, question_block(problem.metadata["question"])])

    def exemplars(self, problem: Problem, shots: int) -> list[Problem]:
        """The train problems shown before `problem`: the same for every problem given `seed`, never itself."""
        return self.store.exemplars(problem, shots)

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        if mode == "strict":
            match = STRICT.search(text)
            return normalize_number(match.group(1)) if match else None
        return last_number(text)

    def check_steps(self, text: str) -> StepCheck:
        """Every arithmetic statement and calculator annotation of the chain of thought, exactly."""
        return check_steps(text)

    def verify(self, answer: str | None, gold: str) -> bool:
        return same_number(answer, gold)
