"""Agreement with the reference harnesses: every HumanEval canonical solution (Chen et al. 2021) and every
MBPP reference solution (Austin et al. 2021), in the full and the sanitized file, passes in the sandbox;
the same solutions with a planted bug (the tested function returns a constant) fail.

Programs and tests are assembled as the reference harnesses do: HumanEval runs prompt + canonical_solution,
then test + check(entry_point); MBPP runs code, then the task's tests (tasks/mbpp.py tests_of:
test_setup_code or the sanitized test_imports, and the asserts of test_list). The default run checks a
fixed sample; `-m slow` checks everything (measured here: all 1565 pass, all 1565 planted bugs fail).
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from selfimprove.sandbox import SandboxConfig, run_many
from selfimprove.tasks.mbpp import tests_of as mbpp_tests  # not test*: pytest would collect it


@dataclass(frozen=True)
class Case:
    id: str
    program: str
    tests: str
    tested: tuple[str, ...]  # the functions the tests call, where a bug is planted


def humaneval(root: Path) -> list[Case]:
    with gzip.open(root / "humaneval" / "HumanEval.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    return [
        Case(
            r["task_id"],
            r["prompt"] + r["canonical_solution"],
            r["test"] + f"\ncheck({r['entry_point']})\n",
            (r["entry_point"],),
        )
        for r in rows
    ]


def _mbpp_case(case_id: str, row: dict[str, Any]) -> Case:
    called = set(re.findall(r"\b(\w+)\s*\(", "\n".join(row["test_list"])))
    code = row["code"]
    defined = [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef) and n.name in called]
    return Case(case_id, code, mbpp_tests(row), tuple(defined))


def mbpp(root: Path) -> list[Case]:
    """mbpp.jsonl: test_setup_code, then the asserts of test_list (not challenge_test_list)."""
    with open(root / "mbpp" / "mbpp.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    return [_mbpp_case(f"mbpp/{r['task_id']}", r) for r in rows]


def mbpp_sanitized(root: Path) -> list[Case]:
    """sanitized-mbpp.json: test_imports, then the asserts of test_list."""
    rows = json.loads((root / "mbpp" / "sanitized-mbpp.json").read_text())
    return [_mbpp_case(f"mbpp-sanitized/{r['task_id']}", r) for r in rows]


def planted(case: Case) -> str:
    """The same solution, with each tested function redefined to return a constant."""
    stubs = "".join(f"\n\ndef {name}(*args, **kwargs):\n    return None\n" for name in case.tested)
    return case.program + stubs


LOADERS = {"humaneval": (humaneval, 5), "mbpp": (mbpp, 20), "mbpp-sanitized": (mbpp_sanitized, 10)}
CONFIG = SandboxConfig(timeout=60)  # a few references take seconds of CPU (sanitized 123: ~9 s on a busy host)


def _check(cases: list[Case]) -> None:
    assert all(case.tested for case in cases), [c.id for c in cases if not c.tested]
    results = run_many([(c.program, c.tests) for c in cases] + [(planted(c), c.tests) for c in cases], CONFIG)
    reference, bugged = results[: len(cases)], results[len(cases) :]
    not_passing = {c.id: f"{r.status}: {r.detail}" for c, r in zip(cases, reference) if not r.passed}
    not_failing = {c.id: f"{r.status}: {r.detail}" for c, r in zip(cases, bugged) if r.status != "failed"}
    assert not_passing == {}, f"reference solutions that did not pass: {not_passing}"
    assert not_failing == {}, f"planted bugs that did not fail: {not_failing}"


@pytest.mark.parametrize("dataset", list(LOADERS))
def test_reference_solutions_sample(dataset: str, shared_data: Path) -> None:
    load, every = LOADERS[dataset]
    cases = load(shared_data)
    _check(cases[::every])


def test_mbpp_126_names_its_sum(shared_data: Path) -> None:
    """Task 126's function is called `sum`: the tests import it from `solution` (a program's names never
    shadow builtins otherwise), so the reference passes and a program without it fails."""
    case = next(c for c in mbpp(shared_data) if c.id == "mbpp/126")
    assert case.tests.startswith("from solution import sum\n")
    results = run_many([(case.program, case.tests), ("def add(a, b):\n    return a + b\n", case.tests)], CONFIG)
    assert [r.status for r in results] == ["passed", "failed"], results


@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(LOADERS))
def test_reference_solutions_all(dataset: str, shared_data: Path) -> None:
    load, _ = LOADERS[dataset]
    cases = load(shared_data)
    assert len(cases) == {"humaneval": 164, "mbpp": 974, "mbpp-sanitized": 427}[dataset]
    _check(cases)
