"""A GSM8K solution as a chain of calculator steps, evaluated exactly.

GSM8K solutions mark every computation with a calculator annotation `<<48/2=24>>` and end with
`#### N` (Cobbe et al. 2021). Compositional GSM (Hosseini et al. 2024) computes Q2's new answer by
re-running Q2's solution with one number replaced; we re-run this chain of annotations instead of the
code-form solutions the paper used. Values are `Fraction`s so that re-evaluation is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from selfimprove.compositional.numbers import to_fraction
from selfimprove.verify.arithmetic import LITERAL, ChainError, compile_arithmetic, evaluate

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_FINAL = re.compile(r"####\s*(\S+)\s*$")
# An "=" in the prose that no annotation follows: arithmetic done outside the chain ("12 - 5 = 7 left").
_PROSE_EQUALS = re.compile(r"=(?!\s*\$?\s*<<)")


@dataclass(frozen=True)
class Step:
    """One annotation: the expression as written, the same with each number replaced by a name
    (`v0`, `v1`, ...) so that it can be re-evaluated with other values, those numbers, and the result
    the annotation states."""

    expr: str
    template: str
    literals: tuple[Fraction, ...]
    stated: Fraction
    start: int
    end: int


@dataclass(frozen=True)
class Chain:
    """All steps of a solution, in order, and the `#### N` answer (equal to the last step's result)."""

    steps: tuple[Step, ...]
    answer: Fraction


def final_answer(solution: str) -> Fraction:
    """The number after `####` (thousands separators allowed)."""
    match = _FINAL.search(solution.strip())
    if not match:
        raise ChainError("no_final_answer", "the solution does not end with '#### N'")
    try:
        return to_fraction(match.group(1))
    except ValueError:
        raise ChainError("no_final_answer", f"'#### {match.group(1)}' is not a number") from None


def _step(match: re.Match[str]) -> Step:
    expr = match.group(1).replace(",", "").strip()
    names: list[Fraction] = []

    def name(m: re.Match[str]) -> str:
        names.append(Fraction(m.group()))
        return f"v{len(names) - 1}"

    template = LITERAL.sub(name, expr)
    try:
        stated = to_fraction(match.group(2))
        compile_arithmetic(template)
    except (ValueError, ZeroDivisionError, SyntaxError):
        raise ChainError("unparseable", f"<<{match.group(1)}={match.group(2)}>>") from None
    return Step(expr, template, tuple(names), stated, match.start(), match.end())


def parse_chain(solution: str) -> Chain:
    """Parse and check a solution: all its arithmetic must be annotated, every step must compute
    something from at least two numbers and
    evaluate exactly to the value it states (a rounded step like `<<10/3=3.33>>` cannot be re-run
    faithfully), and the last step must give the final answer, so that the answer is traceable to the
    chain."""
    answer = final_answer(solution)
    steps = tuple(_step(m) for m in _ANNOTATION.finditer(solution))
    if not steps:
        raise ChainError("no_annotations", "the solution has no <<expr=value>> annotations")
    prose = _ANNOTATION.sub("<<>>", solution)
    if _PROSE_EQUALS.search(prose):
        # A result computed outside the annotations would not follow a substituted X.
        raise ChainError("prose_arithmetic", "the solution computes outside its <<expr=value>> annotations")
    for step in steps:
        if len(step.literals) < 2:
            # `<<30=30>>` restates a number computed in prose (60 - 30 = <<30=30>>30), which cannot be re-run.
            raise ChainError("trivial_step", f"<<{step.expr}={step.stated}>> computes nothing")
        if evaluate(step.template, dict(enumerate(step.literals))) != step.stated:
            raise ChainError("inconsistent_step", f"<<{step.expr}={step.stated}>> does not evaluate to its result")
    if steps[-1].stated != answer:
        raise ChainError("final_not_traced", f"last step gives {steps[-1].stated}, the answer is {answer}")
    return Chain(steps, answer)
