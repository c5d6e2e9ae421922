"""Task registry: a task is one small module; this maps its name to the class, imported lazily so that
`selfimprove ls` does not pay for every dataset's dependencies."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from selfimprove.errors import UserError
from selfimprove.types import Task

TASKS: dict[str, tuple[str, str]] = {
    "arith": ("selfimprove.tasks.arith:ArithTask", "generated multi-step arithmetic word problems (no download)"),
    "gsm8k": ("selfimprove.tasks.gsm8k:GSM8KTask", "grade-school math word problems, answer after ####"),
    "math": ("selfimprove.tasks.math:MATHTask", "competition math, \\boxed{} answers, math-verify equivalence"),
    "csqa": ("selfimprove.tasks.csqa:CSQATask", "CommonsenseQA multiple choice (A-E)"),
    "mbpp": ("selfimprove.tasks.mbpp:MBPPTask", "Python programs checked by running MBPP tests in the sandbox"),
    "humaneval": ("selfimprove.tasks.humaneval:HumanEvalTask", "Python functions checked by HumanEval tests"),
    "wikitext2": ("selfimprove.tasks.wikitext2:WikiText2Task", "language-modeling corpus for model collapse"),
    "compositional_gsm": ("selfimprove.compositional.task:CompositionalGSMTask", "Compositional GSM: GSM8K pairs where Q1's answer is X in Q2 (splits pairs, q1, q2)"),
}


def closest(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the closest valid choice, or '' when none is close."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def get_task(name: str, **options: Any) -> Task:
    """Instantiate a task by name with its options (e.g. data_dir, seed)."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}{closest(name, list(TASKS))}; known tasks: {', '.join(TASKS)}")
    module_name, cls_name = TASKS[name][0].split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("selfimprove"):
            raise UserError(f"task {name!r} is not available in this version of selfimprove") from None
        raise
    try:
        return cls(**options)
    except TypeError as e:
        raise UserError(f"bad option for task {name!r}: {e}") from None
