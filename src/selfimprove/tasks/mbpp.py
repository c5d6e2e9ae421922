"""Task `mbpp`: Mostly Basic Python Problems (Austin et al. 2021, arXiv 2108.07732).

Splits follow the MBPP README and the paper: task_ids 11-510 `test`, 511-600 `validation`, 601-974 `train`,
1-10 `prompt` (few-shot). The prompt is the paper's: `You are an expert Python programmer, and here is your
task: {text} Your code should pass these tests:\\n\\n{tests}\\n[BEGIN]\\n`, and few-shot examples are tasks
2, 3 and 4 (then 1, 5..10) with their code closed by `[DONE]`. `gold` is the test code: `test_setup_code`
(or the sanitized set's `test_imports`) and the `test_list` asserts, run after the program in the sandbox.

`variant="full"` reads mbpp.jsonl (974 tasks, the paper's set); `variant="sanitized"` reads the hand-verified
sanitized-mbpp.json (427 tasks, same task ids and split ranges).
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
from typing import Any, Literal

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.types import ExtractMode, Problem, Prompt

RANGES = {"test": (11, 510), "validation": (511, 600), "train": (601, 974), "prompt": (1, 10)}
FILES = {"full": "mbpp.jsonl", "sanitized": "sanitized-mbpp.json"}
SHOT_ORDER = (2, 3, 4, 1, 5, 6, 7, 8, 9, 10)  # the paper's 3-shot prompt uses tasks 2, 3, 4
FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*)", re.DOTALL | re.IGNORECASE)
CODE_START = re.compile(r"^(?:def |class |import |from |@|[A-Za-z_][A-Za-z0-9_]* *=)", re.MULTILINE)


def compiles(code: str) -> bool:
    """Whether `code` parses as a module, or as a function body (an indented HumanEval completion)."""
    for candidate in (code, "def _body():\n" + code):
        try:
            ast.parse(candidate)
            return True
        except (SyntaxError, ValueError):
            continue
    return False


def fenced(text: str, mode: ExtractMode) -> str | None:
    """The first fenced block that defines something (else the first block); flexible also takes an unclosed one."""
    blocks = FENCE.findall(text)
    if not blocks and mode == "flexible":
        blocks = OPEN_FENCE.findall(text)
    defining = [str(b) for b in blocks if "def " in b or "class " in b]
    chosen = defining or [str(b) for b in blocks]
    return chosen[0] if chosen else None


def salvage(code: str) -> str | None:
    """The code from its first statement-looking line, with trailing lines dropped until it parses."""
    start = CODE_START.search(code)
    lines = code[start.start() if start else 0 :].rstrip().splitlines()
    while lines and not compiles("\n".join(lines)):
        lines.pop()
    return "\n".join(lines).rstrip() + "\n" if lines else None


def extract_program(text: str, mode: ExtractMode) -> str | None:
    """A program from a completion: a fenced block, else the text up to `[DONE]`. Strict keeps it only when
    it parses as it stands; flexible also takes an unclosed fence and trims prose around the code."""
    code = fenced(text, mode)
    if code is None:
        code = text.split("[DONE]")[0].replace("[BEGIN]", "")
    return finish(code, mode)


def finish(code: str, mode: ExtractMode) -> str | None:
    """`code` if it parses; otherwise nothing (strict) or its salvageable part (flexible)."""
    if not code.strip():
        return None
    if compiles(code):
        return code
    return salvage(code) if mode == "flexible" else None


def tests_of(row: dict[str, Any]) -> str:
    """The test code run after the program: setup (it may use the program's classes), then the asserts.
    Where the reference solution defines a name that shadows a builtin (task 126 defines `sum`), the
    tests import it from `solution` on purpose: the sandbox never lets a program shadow builtins or
    standard-library modules in the tests otherwise (a program defining `abs` would fool them)."""
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    lent = shadowing(row["code"])
    imports = f"from solution import {', '.join(lent)}" if lent else ""
    return "\n".join([imports, setup.replace("\r\n", "\n"), *row["test_list"]]).strip() + "\n"


def shadowing(code: str) -> list[str]:
    """Top-level functions and classes of `code` named like a builtin or a standard-library module."""
    protected = set(dir(builtins)) | set(sys.stdlib_module_names)
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return []
    return sorted({n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in protected})


def render_task(text: str, tests: list[str]) -> str:
    listed = "\n".join(tests)
    return (
        f"You are an expert Python programmer, and here is your task: {text} "
        f"Your code should pass these tests:\n\n{listed}\n[BEGIN]\n"
    )


def to_problem(split: str, variant: str, row: dict[str, Any]) -> Problem:
    text = row.get("text") or row["prompt"]  # the sanitized set calls the description `prompt`
    meta = {
        "split": split,
        "source": f"mbpp-{variant}",
        "task_id": row["task_id"],
        "question": text,
        "test_list": list(row["test_list"]),
        "solution": row["code"].replace("\r\n", "\n"),
    }
    return Problem(f"mbpp-{row['task_id']}", render_task(text, row["test_list"]), tests_of(row), meta)


class MBPPTask:
    """MBPP test (500), validation (90), train (374) and prompt (10) splits, checked in the sandbox.
    Options: data_dir, variant ('full' or 'sanitized'), timeout (seconds per program; None: the
    sandbox default), hub (allow download)."""

    name = "mbpp"
    correction = correction.CODE  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = "[BEGIN]\n"  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("test", "validation", "train", "prompt")
    stop = ("[DONE]",)

    def __init__(
        self,
        data_dir: str | None = None,
        variant: Literal["full", "sanitized"] = "full",
        timeout: float | None = None,
        hub: bool = True,
    ) -> None:
        if variant not in FILES:
            raise UserError(f"mbpp variant must be one of {list(FILES)}, not {variant!r}")
        self.data_dir, self.variant, self.timeout, self.hub = data_dir, variant, timeout, hub
        self._cache: dict[str, list[Problem]] = {}

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"mbpp has no split {split!r}; choose one of {list(self.splits)}")
        if split not in self._cache:
            origin = f"google-research/google-research, folder mbpp/ ({FILES[self.variant]})"
            hub = (data.HubSplit("google-research-datasets/mbpp", self.variant, split),)
            source = data.Source((FILES[self.variant],), hub, origin)
            low, high = RANGES[split]
            rows = data.load_rows(self.name, split, source, self.data_dir, self.hub)
            where = data.source_name(self.name, self.data_dir, source.files)
            ids = data.convert_rows(self.name, split, rows, lambda i, row: int(row["task_id"]), where)
            chosen = sorted((r for r, i in zip(rows, ids) if low <= i <= high), key=lambda r: int(r["task_id"]))
            self._cache[split] = data.convert_rows(self.name, split, chosen,
                                                  lambda i, row: to_problem(split, self.variant, row), where)
        return self._cache[split][:limit]

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """The paper's prompt; with shots, tasks 2, 3, 4 (then 1, 5..10) solved and closed by `[DONE]`."""
        if shots <= 0:
            return problem.prompt
        exemplars = self.exemplars(problem, shots)
        blocks = [f"{e.prompt}{e.metadata['solution'].strip()}\n[DONE]\n" for e in exemplars]
        return "".join([*blocks, str(problem.prompt)])

    def exemplars(self, problem: Problem, shots: int) -> list[Problem]:
        """Prompt-split tasks in the paper's order (2, 3, 4, then 1, 5..10), never `problem` itself."""
        by_id = {p.metadata["task_id"]: p for p in self.load("prompt")}
        order = [by_id[i] for i in SHOT_ORDER if i in by_id]
        return data.take_shots(order, shots, lambda e: e.id == problem.id)

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        return extract_program(text, mode)

    def verify(self, answer: str | None, gold: str) -> bool:
        """Run the program, then the task's tests (`gold`), in the sandbox; passed means every assert held."""
        if not answer:
            return False
        from selfimprove.sandbox import run_tests  # lazy: only code tasks need the sandbox

        return run_tests(answer, gold, timeout=self.timeout).status == "passed"
