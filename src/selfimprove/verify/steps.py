"""Step check: does every arithmetic statement of a chain of thought hold? (right answer, wrong reasoning)

Outcome verification passes a completion whose final answer matches even when a step on the way is
wrong (`8-1=8. 8/4=2. The answer is 2.`). Wang et al. 2025 (arXiv 2502.06217) find such false positives
in every model and dataset they study; ProcessBench (Zheng et al. 2024) finds a process error in 3.5% of
the correct-answer GSM8K solutions and 18.8% of the MATH ones. No library checks arithmetic chains of
thought exactly (math-verify compares final answers; process reward models are learned, not exact), so
this is hand-written: a few regexes shared with logical diversity, and exact rational arithmetic.

What is checked, for one completion:

1. Statements are GSM8K calculator annotations `<<48/2=24>>` when the text has any, else the plain
   equation chains of each line (`12+7=19.`, `3 * 4 = 12`, `12/4=3`, `3 x 4 = 12`, `6 × 2 = 12`, `12 ÷ 4 = 3`, `$1,200 * 2 = $2,400`,
   `-3 + 5 = 2`, `5 - -3 = 8`, `20% * 50 = 10`, `20 sheep + 160 sheep = 180 sheep`), found by the
   same patterns as logical diversity (selfimprove.metrics.logical: numbers with `$`, thousands commas,
   decimals, a sign, `%`, one unit word; operators + - * / × ÷ x ^ and parentheses). A statement needs an
   operator, so `14 = 14` or `X = 5` is not one. A chain glued to more than the pattern reads is skipped
   (`X*25% = 19.50`, `1/2 (68) + 10 = 44`, a mixed number `= 3 1/2`, `= 33.333...`). Statements that are the same calculation count once, where
   last written (`48/2 = <<48/2=24>>24` is one; sameness as in logical diversity's `normalize_equation`).
2. Each side is rewritten as plain arithmetic (`$`, commas and unit words dropped, `×`/`x` -> `*`, `÷` -> `/`,
   `N%` -> `N/100`, `^` -> `**` with small integer exponents) and evaluated exactly with `Fraction`s; in a
   chain `a = b = c` every neighbouring pair must be equal. A side written as a decimal number with d
   decimals may be the exact value rounded to d decimals (`10/3 = 3.33` and `10/3 = 3.3` hold, `10/3 = 3.4`
   does not; a whole number must be exact, so `10/3 = 3` does not). Dividing by zero is a wrong step.
3. With `latex=True` (MATH), `\\times` and `\\cdot` read as `*`, `\\div` as `/`, `\\frac{a}{b}` of two numbers as
   `(a/b)`, `{,}` as a thousands comma, and `\\left`/`\\right` are dropped before step 1.
4. With `answer` given (the arith world, whose solutions end in `The answer is N.`), the stated answer must
   also equal the last statement's result.

What is not checked: whether a statement uses the right numbers from the question or the previous step
(a chain can be arithmetically true and still solve the wrong problem), arithmetic written in words
(`half of 10 is 5`), algebra with variables, and any LaTeX beyond rule 3. A completion with no statement
has nothing checked: its result is None (unknown), never "correct".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from selfimprove.compositional.chain import ChainError, exact_value
from selfimprove.metrics.logical import ANNOTATION, MAX_SIDE, PLAIN, clean_side, normalize_equation
from selfimprove.types import Completion

_OPERATOR = re.compile(r"[-+*/^]")
_DECIMAL = re.compile(r"-?\d*\.(\d+)")
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}")
_LATEX = ((r"\times", " * "), (r"\cdot", " * "), (r"\div", " / "), ("{,}", ","), (r"\left", ""), (r"\right", ""),
          (r"\!", ""), (r"\,", ""))
_GLUED_BEFORE = set("0123456789+-*/×÷^=(")
_GLUED_AFTER = set("0123456789+-*/×÷^(")
MAX_WRONG_KEPT = 5  # wrong statements kept per completion (records stay small; the count is exact)


@dataclass(frozen=True)
class StepCheck:
    """The step check of one completion: how many statements were checked and the wrong ones.
    `ok` is True when at least one was checked and none is wrong, False when one is wrong, and None when
    nothing could be checked."""

    checked: int
    wrong: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool | None:
        if self.wrong:
            return False
        return True if self.checked else None


def from_latex(text: str) -> str:
    """The LaTeX of rule 3 rewritten as plain arithmetic (other LaTeX is left as it is)."""
    text = _FRAC.sub(r"(\1/\2)", text)
    for macro, plain in _LATEX:
        text = text.replace(macro, plain)
    return text


def _plain(line: str) -> list[str]:
    """The plain equation chains of one line, without those glued to more arithmetic than the pattern
    reads (`X*25% = 19.5`, `1/2 (68) + 10 = 44`, `= 3 1/2`, `= 33.333...`): checking a fragment would
    call a true statement wrong."""
    out = []
    for m in PLAIN.finditer(line):
        before, after = line[: m.start()].rstrip()[-1:], line[m.end() :].lstrip()
        if (before and before in _GLUED_BEFORE) or (after[:1] and after[:1] in _GLUED_AFTER) or after[:3] == "...":
            continue
        out.append(m.group(0))
    return out


def statements(text: str, latex: bool = False) -> list[str]:
    """The arithmetic statements of a text (rule 1), in text order."""
    if latex:
        text = from_latex(text)
    found = ANNOTATION.findall(text) or [s for line in text.splitlines() for s in _plain(line)]
    latest: dict[str, str] = {}
    for statement in found:  # text order; a repeated calculation sits where it was last written
        key = normalize_equation(statement)
        latest.pop(key, None)
        latest[key] = " ".join(statement.split())
    return list(latest.values())


def _value(side: str) -> Fraction | None:
    """The exact value of one side; None when it is not plain arithmetic (then the statement is skipped)."""
    s = clean_side(side)
    if not s or len(s) > MAX_SIDE:
        return None
    try:
        return exact_value(s)
    except ChainError as e:
        if e.reason == "division_by_zero":
            raise
        return None


def _rounded_match(exact: Fraction, written: str) -> bool:
    """Whether a side written as a d-decimal number is `exact` rounded to d decimals (rule 2)."""
    m = _DECIMAL.fullmatch(clean_side(written))
    if not m:
        return False
    return abs(exact - Fraction(clean_side(written))) <= Fraction(1, 2 * 10 ** len(m.group(1)))


def holds(statement: str) -> bool | None:
    """Whether a statement `a op b = c` (or a longer chain) holds exactly; None when it cannot be checked."""
    sides = statement.split("=")
    if len(sides) < 2 or not any(_OPERATOR.search(clean_side(s).lstrip("-")) for s in sides):
        return None
    try:
        values = [_value(s) for s in sides]
    except ChainError:
        return False  # division by zero
    if any(v is None for v in values):
        return None
    for (left, lv), (right, rv) in zip(zip(sides, values), zip(sides[1:], values[1:])):
        assert lv is not None and rv is not None
        if lv != rv and not _rounded_match(lv, right) and not _rounded_match(rv, left):
            return False
    return True


def last_result(statement: str) -> Fraction | None:
    """The value of a statement's last side (the result it states)."""
    try:
        return _value(statement.split("=")[-1])
    except ChainError:
        return None


def check_steps(text: str, answer: str | None = None, latex: bool = False) -> StepCheck:
    """Check every statement of a completion (module docstring); with `answer`, also that the stated
    answer is the last statement's result (rule 4)."""
    checked, wrong = 0, []
    last: str | None = None
    for statement in statements(text, latex):
        verdict = holds(statement)
        if verdict is None:
            continue
        checked, last = checked + 1, statement
        if not verdict:
            wrong.append(statement)
    if answer is not None and last is not None:
        result = last_result(last)
        try:
            stated = Fraction(answer.replace(",", "").replace("$", ""))
        except (ValueError, ZeroDivisionError):
            stated = None
        if result is not None and stated is not None and result != stated:
            wrong.append(f"The answer is {answer} (the last step gives {last.split('=')[-1].strip()})")
    return StepCheck(checked, tuple(wrong))


def record_steps(completion: Completion, check: StepCheck) -> Completion:
    """Write a step check into a completion (`steps_ok`, `steps_checked`, `steps_wrong`)."""
    completion.steps_ok = check.ok
    completion.steps_checked = check.checked
    completion.steps_wrong = list(check.wrong[:MAX_WRONG_KEPT])
    return completion
