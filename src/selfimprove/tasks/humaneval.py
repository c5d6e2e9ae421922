"""Task `humaneval`: 164 hand-written Python functions (Chen et al. 2021, arXiv 2107.03374).

The prompt is the function signature and docstring, as in the paper. A completion may be the function
body (a base model continuing the prompt) or a whole function (a chat model, often in a ```python block);
the program run is `prompt + body`, or `prompt + whole function` (the later definition wins, and the
prompt's imports and helper functions stay available). `gold` is `test + "\\ncheck(entry_point)\\n"`.

A body is cut at the stop sequences the paper samples with (`\\nclass`, `\\ndef`, `\\n#`, `\\nif`,
`\\nprint`), which end the function once the model moves on to top-level code.
"""

from __future__ import annotations

from typing import Any

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.tasks.mbpp import compiles, extract_program, fenced, finish
from selfimprove.types import ExtractMode, Problem, Prompt

SOURCE = data.Source(
    ("HumanEval.jsonl.gz", "HumanEval.jsonl"),
    (data.HubSplit("openai/openai_humaneval", None, "test"),),
    "openai/human-eval, data/HumanEval.jsonl.gz",
)
CODEX_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def gold_of(row: dict[str, Any]) -> str:
    return f"{row['test']}\ncheck({row['entry_point']})\n"


def is_body(code: str) -> bool:
    """A body starts indented (the prompt ends inside the function); a whole program starts at column 0."""
    first = next((line for line in code.splitlines() if line.strip()), "")
    return first[:1] in (" ", "\t")


def cut_body(code: str) -> str:
    """The body up to the first of the Codex stop sequences."""
    ends = [i for i in (code.find(stop) for stop in CODEX_STOPS) if i >= 0]
    return code[: min(ends)] if ends else code


def to_problem(row: dict[str, Any]) -> Problem:
    meta = {
        "split": "test",
        "source": "humaneval",
        "task_id": row["task_id"],
        "entry_point": row["entry_point"],
        "solution": row["canonical_solution"],
    }
    return Problem(row["task_id"], row["prompt"], gold_of(row), meta)


class HumanEvalTask:
    """HumanEval (164 problems, one `test` split, zero-shot only: there is no training split to draw
    examples from). Options: data_dir, timeout (seconds per program; None: the sandbox default), hub."""

    name = "humaneval"
    correction = correction.CODE  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = ""  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("test",)
    stop = CODEX_STOPS
    # A chat model answers with a whole program (```python\ndef ...```), which the Codex stops would cut at its
    # first `def`; its answer ends with the turn, and extraction cuts a bare body at the stops instead.
    chat_stop: tuple[str, ...] = ()

    def __init__(self, data_dir: str | None = None, timeout: float | None = None, hub: bool = True) -> None:
        self.data_dir, self.timeout, self.hub = data_dir, timeout, hub
        self._problems: list[Problem] | None = None
        self._prompt_of_gold: dict[str, str] = {}

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"humaneval has no split {split!r}; it has only 'test'")
        if self._problems is None:
            rows = data.load_rows(self.name, split, SOURCE, self.data_dir, self.hub)
            where = data.source_name(self.name, self.data_dir, SOURCE.files)
            self._problems = data.convert_rows(self.name, split, rows, lambda i, row: to_problem(row), where)
            self._prompt_of_gold = {p.gold: str(p.prompt) for p in self._problems}
        return self._problems[:limit]

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        if shots > 0:
            raise UserError("humaneval has no training split for few-shot examples; use shots=0")
        return problem.prompt

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        """A body (cut at the Codex stops) or a whole program; strict needs it to parse as it stands."""
        code = fenced(text, mode)
        if code is not None:
            return finish(code, mode)
        if not is_body(text):
            return extract_program(text, mode)
        body = cut_body(text)
        return body if body.strip() and (mode == "flexible" or compiles(body)) else None

    def verify(self, answer: str | None, gold: str) -> bool:
        """Run `prompt + answer` and the problem's `check(entry_point)` in the sandbox."""
        if not answer:
            return False
        from selfimprove.sandbox import run_tests  # lazy: only code tasks need the sandbox

        return run_tests(self.program(answer, gold), gold, timeout=self.timeout).status == "passed"

    def program(self, answer: str, gold: str) -> str:
        """The code to run: the problem's prompt followed by the body or the whole function."""
        if not self._prompt_of_gold:
            self.load("test")
        prompt = self._prompt_of_gold.get(gold)
        if prompt is None:  # not a test of this dataset: run the answer on its own
            return answer
        return prompt + answer if is_body(answer) else f"{prompt}\n{answer}"
