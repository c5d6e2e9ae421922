"""Calculator arithmetic evaluated exactly: the expressions of GSM8K's `<<48/2=24>>` annotations and of a
chain of thought's `a op b = c` statements, as `Fraction`s (Python's ast, restricted to + - * / ** and signs,
so that nothing else can run)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from fractions import Fraction
from functools import cache

LITERAL = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_MAX_EXPONENT = 12


class ChainError(Exception):
    """A solution that cannot be re-evaluated; `reason` is a short key counted in the build stats."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@cache
def compile_arithmetic(template: str) -> ast.expr:
    """The parsed expression of a step template; SyntaxError for anything but calculator arithmetic."""
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
        return _eval(compile_arithmetic(template), values)
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

    return evaluate(LITERAL.sub(name, expr), dict(enumerate(literals)))


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
