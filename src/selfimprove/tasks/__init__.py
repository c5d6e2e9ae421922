"""Task registry: a task is one small module; this maps its name to the class, imported lazily so that
`selfimprove ls` does not pay for every dataset's dependencies."""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

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
        return cls(**checked_options(name, cls, options))
    except TypeError as e:
        raise UserError(f"bad option for task {name!r}: {e}") from None


def checked_options(name: str, cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """`options` validated against the task's constructor annotations (a seed of 'abc' must not silently
    build another world); unknown options and wrong types are one UserError naming task.options.<key>."""
    hints = typing.get_type_hints(cls.__init__)
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return options
    fields: dict[str, Any] = {
        p.name: (hints.get(p.name, Any), ... if p.default is inspect.Parameter.empty else p.default) for p in params
    }
    model = create_model(f"{name}_options", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
                         **fields)
    try:
        validated = model.model_validate(options)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(["task.options", *map(str, err["loc"])])
        if err["type"] == "extra_forbidden":
            raise UserError(f"bad option for task {name!r}: no option {key}{closest(str(err['loc'][0]), list(fields))}"
                            f"; valid options: {', '.join(fields)}") from None
        got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else ""
        raise UserError(f"bad option for task {name!r}: {key}: {err['msg']}{got}") from None
    return {key: getattr(validated, key) for key in options}


def check_nonempty(task: Task, split: str) -> None:
    """Fail before any model is loaded when a split is unknown or holds no problem (an empty file, a size of 0):
    an evaluation of nothing would report an empty table as a result."""
    if not task.load(split, 1):
        raise UserError(f"{task.name} split {split!r} holds no problems; check its data file or size")
