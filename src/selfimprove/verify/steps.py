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
   operator, so `14 = 14` or `X = 5` is not one. When in doubt a chain is not checked (a false flag drops a
   correct training row under loop.require_valid_steps): a chain that is part of a larger expression is
   skipped, never checked as a fragment (`X*25% = 19.50`, `1/2 (68) + 10 = 44`, `= 3 1/2`, `= 33.333...`,
   `1200/1000=1.2Mb`, `120 – 80 - 15 = 25`, `1:2^2=1:4`, `25 classmates + his 1 teacher + 1 himself = 27`,
   `3/4 = 1/4 of`). Statements that are the same calculation count once, where
   last written (`48/2 = <<48/2=24>>24` is one; sameness as in logical diversity's `normalize_equation`).
2. Each side is rewritten as plain arithmetic (`$`, commas and unit words dropped, `×`/`x` -> `*`, `÷` -> `/`,
   `N%` -> `N/100`, `^` -> `**` with small integer exponents) and evaluated exactly with `Fraction`s; in a
   chain `a = b = c` every neighbouring pair must be equal. A side written as a decimal number with d
   decimals may be the exact value rounded to d decimals (`10/3 = 3.33` and `10/3 = 3.3` hold, `10/3 = 3.4`
   does not; a whole number must be exact, so `10/3 = 3` does not). A lone `N%` side may name N or N/100
   (`45 + 21 + 28 = 94%`, `.25 * 100 = 25%`). Not claims of equality, so not checked: a unit conversion
   (`12 inches = 1 foot`), a running total (`$3/2 = $1.50 + $3.00 = $4.50`); a first side that labels the
   quantity computed next (`1.5 quarts = 4 * 1.5 = 6 quarts`) is dropped. Dividing by zero is a wrong step.
3. With `latex=True` (MATH), only math spans (`$…$`, `$$…$$`, `\\[…\\]`, `\\(…\\)`) are read, and a span counts
   only when, with `\\times` and `\\cdot` read as `*`, `\\div` as `/`, `\\frac{a}{b}` of two numbers as `(a/b)`,
   `{,}` as a thousands comma, `\\left`/`\\right` dropped and a final `= \\boxed{N}` read as `= N`, the whole
   span is one plain chain: implicit products (`(4+1)(2+1) = 15`), other commands (`\\star`, `\\lfloor`,
   `\\binom`, `\\overline`), factorials and variables make it unchecked. A literal `*` (a defined operation in
   MATH), an `x` between spans, a trailing `...`, and "base", "remainder", "nearest" or "approximately" near the
   span also leave it unchecked.
4. With `answer` given (the arith world, whose solutions end in `The answer is N.`), the stated answer must
   also equal the last statement's result.

What is not checked: whether a statement uses the right numbers from the question or the previous step
(a chain can be arithmetically true and still solve the wrong problem), arithmetic written in words
(`half of 10 is 5`), algebra with variables, and any LaTeX beyond rule 3. Measured on correct reference
solutions: GSM8K test with the annotations removed, 1 of 1,117 checked solutions flagged (a real error of the
reference); MATH test, 2 of 1,151 (a real error and an equation false on purpose, `6 = 14`), 0.17%. A
completion with no statement has nothing checked: its result is None (unknown), never "correct".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from selfimprove.verify.arithmetic import ChainError, exact_value
from selfimprove.metrics.logical import ANNOTATION, MAX_SIDE, PLAIN, clean_side, normalize_equation
from selfimprove.types import Completion

_OPERATOR = re.compile(r"[-+*/^]")
_DECIMAL = re.compile(r"-?\d*\.(\d+)")
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}")
_LAST_BOXED = re.compile(r"=\s*\\boxed\s*\{([^{}]*)\}\s*$")  # `= \boxed{15}` ends a chain
_SPAN_CONTEXT = re.compile(r"\bbase\b|remainder|nearest|approximately", re.I)  # `=` is not exact equality there
_LATEX = ((r"\times", " * "), (r"\cdot", " * "), (r"\div", " / "), ("{,}", ","), (r"\left", ""), (r"\right", ""),
          (r"\!", ""), (r"\,", ""))
# A math span of LaTeX text: $$…$$, $…$, \[…\], \(…\)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
_DASHES = "–—−"  # en dash, em dash and minus sign: a minus the pattern does not read
_GLUED_BEFORE = set("0123456789+-*/×÷^=()[]{}!:|\\<>_%¼½¾" + _DASHES)
_GLUED_AFTER = set("0123456789+-*/×÷^(!:\\<>_{[" + _DASHES)
# Arithmetic within two words before the chain (`25 classmates + his 1 teacher + 1 himself = 27`, `$2000x 10/100`):
# the chain is the tail of a larger expression.
_TAIL_OF = re.compile(r"(?:[-+*/×÷^–—−¼½¾]|\d[A-Za-z]+)\s*(?:[A-Za-z’']+\s+){0,2}$")
# `100-60=40% of the groceries`: the last side is a fragment of a larger quantity
_OF = re.compile(r"\s*of\b|(?<=\sof)$")
_LONE_PERCENT = re.compile(r"\s*\$?(\d[\d,]*(?:\.\d+)?|\.\d+)%\s*")
_FIRST_TERM = re.compile(r"\s*(\$?-?(?:\d[\d,]*(?:\.\d+)?|\.\d+))\s*[-+]")  # `$1.50+$3.00`: its first term
_QUANTITY = re.compile(r"\s*\$?-?[\d,.]+\s*([A-Za-z]+)\s*")  # one number with a unit word: `6 quarts`
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


def _fragment(line: str, start: int, end: int) -> bool:
    """Whether the chain line[start:end] is part of a larger expression than the pattern reads: glued to
    arithmetic, a digit, a LaTeX command, a factorial, a ratio or an inequality (`(1/2)(1/6)=1/12`,
    `1200/1000=1.2Mb`, `12.75=2.25+1.50x`, `(2005/3) = 668\\frac13`, `120 – 80 - 15 = 25`, `1:2^2=1:4`),
    the tail of arithmetic written with words between (`25 classmates + his 1 teacher + 1 himself = 27`),
    or a quantity continued by `of` (`1/4 of the flights`)."""
    before, after = line[:start], line[end:]
    glued_before = before.rstrip()[-1:]
    if glued_before and (glued_before in _GLUED_BEFORE or re.search(r"\\[A-Za-z]+\s*$", before)):
        return True
    if _TAIL_OF.search(before) or _OF.match(after) or _OF.search(line[start:end]):
        return True
    if after[:1].isalnum() or after[:2].startswith(".") and after[1:2].isdigit() or after.lstrip()[:3] == "...":
        return True
    return bool(after.lstrip()[:1] and after.lstrip()[:1] in _GLUED_AFTER)


def _plain(line: str) -> list[str]:
    """The plain equation chains of one line that are not fragments of a larger expression: checking a
    fragment would call a true statement wrong, so when in doubt a chain is not checked."""
    return [m.group(0) for m in PLAIN.finditer(line) if not _fragment(line, m.start(), m.end())]


def _latex_chains(text: str) -> list[str]:
    """The chains of a LaTeX text: a math span counts only when, rewritten by rule 3, the whole span is one
    plain chain (`$(4+1)(2+1) = 15$` with implicit products, `$3 \\star 5 = 8 * 5$`, `$\\lfloor 100/12\\rfloor
    = 8$` are not), and its surroundings do not make it part of something else: a literal `*` or an `x`
    between spans is a defined operation, a base other than ten, a remainder, a rounding ("to the nearest")
    or a trailing `...` change what `=` means."""
    text = text.replace(r"\$", r"\dollar")  # an escaped dollar sign is not a math delimiter
    out = []
    for m in _MATH_SPAN.finditer(text):
        span = next(g for g in m.groups() if g is not None).strip()
        before, after = text[max(0, m.start() - 80) : m.start()], text[m.end() : m.end() + 40]
        if "*" in span or span.endswith(("...", r"\ldots", r"\dots")) or _SPAN_CONTEXT.search(before + " " + after) \
                or re.search(r"(?:[-+*/=^]|\bx)\s*$|[\d.]$", before) or re.match(r"\s*[-+*/=^]", after):
            continue
        plain = from_latex(_LAST_BOXED.sub(r"= \1", span)).rstrip(".,;").strip()
        if not re.search(r"[A-Za-z\\{}]", plain) and PLAIN.fullmatch(plain):
            out.append(plain)
    return out


def statements(text: str, latex: bool = False) -> list[str]:
    """The arithmetic statements of a text (rule 1), in text order."""
    if ANNOTATION.search(text):
        found = ANNOTATION.findall(text)
    elif latex:
        found = _latex_chains(text)
    else:
        found = [s for line in text.splitlines() for s in _plain(line)]
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


def _link(left: str, lv: Fraction, right: str, rv: Fraction) -> bool | None:
    """Whether one link `left = right` of a chain holds; None when it is not a claim of equality:
    a unit conversion (`12 inches = 1 foot`) or a running total (`$3/2 = $1.50 + $3.00 = $4.50`, where the
    right side continues from the left's value)."""
    if lv == rv or _rounded_match(lv, right) or _rounded_match(rv, left):
        return True
    # `45 + 21 + 28 = 94%`, `.25 * 100 = 25%`: a lone percentage names N percent, equal to N or to N/100
    if (_LONE_PERCENT.fullmatch(right) and rv * 100 == lv) or (_LONE_PERCENT.fullmatch(left) and lv * 100 == rv):
        return True
    units = [_QUANTITY.fullmatch(side) for side in (left, right)]
    if units[0] and units[1] and units[0].group(1) != units[1].group(1):
        return None
    first = _FIRST_TERM.match(right)
    if first and _value(first.group(1)) == lv:
        return None
    return False


def holds(statement: str) -> bool | None:
    """Whether a statement `a op b = c` (or a longer chain) holds exactly; None when it cannot be checked.
    A first side that is a labelled quantity followed by the calculation of another
    (`4 students drank 1.5 quarts = 4 * 1.5 = 6 quarts`) is a label, not a side."""
    sides = statement.split("=")
    if len(sides) < 2 or not any(_OPERATOR.search(clean_side(s).lstrip("-")) for s in sides):
        return None
    try:
        values = [_value(s) for s in sides]
    except ChainError:
        return False  # division by zero
    if any(v is None for v in values):
        return None
    pairs = zip(sides, values, sides[1:], values[1:])
    links = [_link(left, lv, right, rv) for left, lv, right, rv in pairs]  # type: ignore[arg-type]
    if len(sides) > 2 and links[0] is not True and _QUANTITY.fullmatch(sides[0]):
        links = links[1:]
    if False in links:
        return False
    return None if None in links else True


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
