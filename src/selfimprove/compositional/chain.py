"""A GSM8K solution as a chain of calculator steps, evaluated exactly.

GSM8K solutions mark every computation with a calculator annotation `<<48/2=24>>` and end with
`#### N` (Cobbe et al. 2021). Compositional GSM (Hosseini et al. 2024) computes Q2's new answer by
re-running Q2's solution with one number replaced; we re-run this chain of annotations instead of the
code-form solutions the paper used. Values are `Fraction`s so that re-evaluation is exact.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from selfimprove.compositional.numbers import to_fraction

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_LITERAL = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_FINAL = re.compile(r"####\s*(\S+)\s*$")
# An "=" in the prose that no annotation follows: arithmetic done outside the chain ("12 - 5 = 7 left").
_PROSE_EQUALS = re.compile(r"=(?!\s*\$?\s*<<)")
_MAX_EXPONENT = 12


class ChainError(Exception):
    """A solution that cannot be re-evaluated; `reason` is a short key counted in the build stats."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


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

    template = _LITERAL.sub(name, expr)
    try:
        stated = to_fraction(match.group(2))
        _compiled(template)
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


@cache
def _compiled(template: str) -> ast.expr:
    tree = ast.parse(template, mode="eval").body
    for node in ast.walk(tree):
        allowed = (
            ast.BinOp,
            ast.UnaryOp,
            ast.Name,
            ast.Load,
            ast.Add,
            ast.Sub,
            ast.Mult,
            ast.Div,
            ast.Pow,
            ast.USub,
            ast.UAdd,
        )
        if not isinstance(node, allowed):
            raise SyntaxError(f"{type(node).__name__} is not calculator arithmetic")
    return tree


def evaluate(template: str, values: Mapping[int, Fraction]) -> Fraction:
    """Evaluate a step template with `v<i>` bound to `values[i]`, exactly. Raises ChainError
    ('division_by_zero' or 'unparseable') when the arithmetic is undefined."""
    try:
        return _eval(_compiled(template), values)
    except ZeroDivisionError:
        raise ChainError("division_by_zero", template) from None
    except SyntaxError as e:
        raise ChainError("unparseable", f"{template}: {e}") from None


def exact_value(expr: str) -> Fraction:
    """The exact value of calculator arithmetic written with plain numbers (`12/4`, `3*(2+1)`, `-5--3`).
    Raises ChainError ('division_by_zero' or 'unparseable') when it is not such arithmetic."""
    literals: list[Fraction] = []

    def name(m: re.Match[str]) -> str:
        literals.append(Fraction(m.group()))
        return f"v{len(literals) - 1}"

    return evaluate(_LITERAL.sub(name, expr), dict(enumerate(literals)))


def _eval(node: ast.expr, values: Mapping[int, Fraction]) -> Fraction:
    if isinstance(node, ast.Name):
        return values[int(node.id[1:])]
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    assert isinstance(node, ast.BinOp)
    left, right = _eval(node.left, values), _eval(node.right, values)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    if isinstance(node.op, ast.Div):
        return left / right
    if right.denominator != 1 or abs(right) > _MAX_EXPONENT:
        raise ChainError("unparseable", f"exponent {right} is not a small integer")
    return left ** int(right)
