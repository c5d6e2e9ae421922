"""Logical diversity: how many different *calculations* reach the answer, not how many phrasings.

Wu et al. 2024 ("Progress or Regress?", output-diversity analysis) measure the logical diversity of a
problem's correct solutions by the number of distinct sets of equations they use. Two solutions that do
the same arithmetic in other words, or in another order, count once. Our rule:

1. Equations are taken from GSM8K calculator annotations `<<48/2=24>>` when a text has any; otherwise
   from plain equation chains in the text (`12+7=19.`, `48 / 2 = 24`, `3 x 4 = 12`, `$1,200 * 2 = $2,400`),
   where each number may carry one unit word (`20 sheep + 160 sheep = 180 sheep`, `$20/hour * 35 hours`).
   An equation needs an operator, so a bare `14 = 14` (or annotation `<<14=14>>`) is not a calculation.
2. Each side of an equation is normalized: unit words, whitespace, `$` and thousands commas are removed, `×`/` x `
   become `*`, `÷` becomes `/`, `−` becomes `-`, `^` becomes `**`, `N%` becomes `(N/100)`, and numbers
   are written canonically (`24.0` -> `24`, `0.50` -> `0.5`).
3. The side is parsed (never evaluated) with Python's `ast`; chains of the commutative, associative
   operators `+` and `*` are flattened and their operands sorted, so `3+4`, `4+3` and `(4)+3` agree and
   so do `2*3*4` and `4*(3*2)`; `-`, `/` and `**` keep their order. A side that does not parse is kept
   as its normalized string.
4. An equation is its sides sorted, calculations before plain numbers (`7=4+3` is `3+4=7`); a solution
   is the *set* of its equations (the order of independent steps does not matter, nor does repeating
   one); a solution without any equation has the empty set, which counts as one way of answering.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from functools import lru_cache

ANNOTATION = re.compile(r"<<([^<>]*=[^<>]*)>>")
_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|\$?\.\d+%?"
_UNIT = r"(?:\s+[A-Za-z]+(?:/[A-Za-z]+)?|/[A-Za-z]+)?"  # `20 sheep`, `2 GB/minute`, `$20/hour`
_OPERAND = rf"-?(?:\(\s*)*-?(?:{_NUM}){_UNIT}(?:\s*\))*"
_OP = r"(?:\s*[-+*/×÷^−]\s*|\s+x\s+)"
_EXPR = rf"{_OPERAND}(?:{_OP}{_OPERAND})*"
PLAIN = re.compile(rf"(?<![\w.]){_EXPR}(?:\s*=\s*{_EXPR})+(?!\w)")
_OPERATOR = re.compile(r"[-+*/×÷^−]|\sx\s")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_UNIT_WORD = re.compile(r"/?[A-Za-z]+(?:/[A-Za-z]+)?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?|\.\d+)%")
_SYMBOL = {ast.Add: "+", ast.Mult: "*", ast.Sub: "-", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%"}
MAX_SIDE = 200  # longer "sides" are not calculations worth parsing; kept as strings


def extract_equations(text: str) -> list[str]:
    """The raw equations of a solution: its `<<...>>` annotations if any, else its plain equation chains."""
    found = ANNOTATION.findall(text) or [m.group(0) for m in PLAIN.finditer(text)]
    return [e for e in found if _OPERATOR.search(e)]


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _operands(node: ast.expr, op: type) -> list[ast.expr]:
    """Flatten a chain like a + (b + c) into [a, b, c] for one associative operator."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, op):
        return _operands(node.left, op) + _operands(node.right, op)
    return [node]


def _canon(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _canon(node.operand)
        return f"-{inner}" if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _SYMBOL:
        symbol = _SYMBOL[type(node.op)]
        if isinstance(node.op, (ast.Add, ast.Mult)):
            parts = sorted(_canon(x) for x in _operands(node, type(node.op)))
        else:
            parts = [_canon(node.left), _canon(node.right)]
        return "(" + symbol.join(parts) + ")"
    raise ValueError(f"unsupported expression node {type(node).__name__}")


def clean_side(side: str) -> str:
    """One side of an equation as plain Python arithmetic (rule 2 of the module docstring): unit words,
    whitespace, `$` and thousands commas removed, `×`, ` x `, `÷`, `−`, `^` and `N%` rewritten."""
    s = side.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    s = re.sub(r"\s+x\s+", "*", s)
    s = _UNIT_WORD.sub("", s)
    s = re.sub(r"[\s,$]", "", s)
    return _PERCENT.sub(r"(\1/100)", s)


def normalize_side(side: str) -> str:
    """One side of an equation in canonical form (rules 2 and 3 of the module docstring)."""
    s = clean_side(side)
    if len(s) > MAX_SIDE:
        return s
    try:
        node = ast.parse(s, mode="eval").body
        out = _canon(node)
    except (SyntaxError, ValueError, RecursionError):
        return s
    return out[1:-1] if isinstance(node, ast.BinOp) else out  # _canon wraps each operation in parentheses


@lru_cache(maxsize=65536)
def normalize_equation(equation: str) -> str:
    """An equation with each side normalized and the sides sorted (calculations before plain numbers),
    so `7=4+3` reads `3+4=7`."""
    sides = [normalize_side(side) for side in equation.split("=")]
    return "=".join(sorted(sides, key=lambda side: (_NUMBER.fullmatch(side) is not None, side)))


def equation_set(text: str) -> frozenset[str]:
    """The set of normalized equations a solution uses (empty when it uses none)."""
    return frozenset(normalize_equation(e) for e in extract_equations(text))


def logical_diversity(texts: Sequence[str]) -> int:
    """Number of distinct equation sets among `texts` (Wu et al. 2024's logical diversity)."""
    return len({equation_set(t) for t in texts})
