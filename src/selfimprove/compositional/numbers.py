"""Numbers in a GSM8K question: where they are, whether one may be replaced by X, and the constants the
question's words imply ("half" is 2, "dozen" is 12, "three" is 3, "hours" may bring 60).

Compositional GSM (Hosseini et al. 2024, Sec. 2) replaces one number of Q2 by X. The builder may only
replace a number whose every use in the solution can be found; these helpers say which numbers are
candidates and which constants could be confused with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# A digit number, with thousands separators and decimals ("80,000", "1.50", ".5").
_NUMBER = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\d])")
# Characters that glue a number to something that X cannot stand in for: "1/4", "3:30", "3rd", "x2".
_GLUE_BEFORE = re.compile(r"[/:A-Za-z]$")
_GLUE_AFTER = re.compile(r"^(?:[/:]|[A-Za-z])")
_PERCENT_AFTER = re.compile(r"^\s*(?:%|percent\b)", re.IGNORECASE)

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1000000,
}
# Words that state a multiplier or a part of a whole: the solution surely uses the constant ("half" -> 2, .5).
_MULTIPLIERS = {
    2: r"half|halves|halved|twice|double[sd]?|doubling|pairs?|couples?|both",
    3: r"thirds?|triple[sd]?|thrice|tripling",
    4: r"quarters?|fourths?|quadruple[sd]?",
    5: r"fifths?",
    10: r"tenths?",
    12: r"dozens?",
    20: r"scores?",
}
_PARTS = {2: r"half|halves|halved", 3: r"thirds?", 4: r"quarters?|fourths?", 5: r"fifths?", 10: r"tenths?"}
# Words of a unit whose conversion the solution may use (60 minutes in an hour, 52 weeks in a year).
_UNITS = {
    3: r"yards?",
    4: r"months?",
    7: r"weeks?|weekly",
    10: r"decades?|dimes?",
    12: r"months?|feet|foot|inch(?:es)?|years?",
    16: r"pounds?|ounces?",
    24: r"days?|daily|hours?",
    25: r"quarters?",
    30: r"months?|days?",
    52: r"weeks?|years?",
    60: r"hours?|minutes?|seconds?",
    100: r"percent(?:age)?|cents?|dollars?|centur(?:y|ies)|meters?|centimeters?",
    365: r"years?|yearly|annual(?:ly)?",
    1000: r"thousands?|kilo\w*|grams?|liters?|milli\w*",
}


@dataclass(frozen=True)
class QuestionNumber:
    """One digit number in a question: its text as written, value and span; `percent` when followed by %."""

    text: str
    value: Fraction
    start: int
    end: int
    percent: bool
    glued: bool


def to_fraction(text: str) -> Fraction:
    """Exact value of a number as GSM8K writes it ("1,000", "$5", "0.25", "-3")."""
    return Fraction(text.replace(",", "").replace("$", "").strip())


def find_numbers(question: str) -> list[QuestionNumber]:
    """All digit numbers in a question, left to right."""
    found = []
    for m in _NUMBER.finditer(question):
        before, after = question[: m.start()], question[m.end() :]
        glued = bool(_GLUE_BEFORE.search(before) or _GLUE_AFTER.search(after))
        percent = bool(_PERCENT_AFTER.search(after))
        found.append(QuestionNumber(m.group(), to_fraction(m.group()), m.start(), m.end(), percent, glued))
    return found


def _matching(table: dict[int, str], lowered: str) -> set[int]:
    return {v for v, pattern in table.items() if re.search(rf"\b(?:{pattern})\b", lowered)}


def stated_constants(question: str) -> set[Fraction]:
    """Values the question states in words: number words ("three"), multipliers ("twice", "half" as 2 and
    .5), written fractions ("1/4" as 1/4). A solution number with such a value may be that constant."""
    lowered = question.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    values = {Fraction(v) for w, v in _NUMBER_WORDS.items() if w in words}
    values.update(Fraction(v) for v in _matching(_MULTIPLIERS, lowered))
    values.update(1 / Fraction(v) for v in _matching(_PARTS, lowered))
    written = re.findall(r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])", question)
    values.update(Fraction(int(a), int(b)) for a, b in written if int(b))
    return values


def unit_constants(question: str) -> set[Fraction]:
    """Conversion factors the question's units make likely (hours -> 60, % -> 100 and 1/100). They explain
    a solution number nothing else explains, and keep a number of the same value from becoming X."""
    lowered = question.lower()
    values = {Fraction(v) for v in _matching(_UNITS, lowered)}
    if "%" in question or re.search(r"\bpercent", lowered):
        values.update((Fraction(100), Fraction(1, 100)))
    return values


def replaceable(numbers: list[QuestionNumber], index: int, constants: set[Fraction]) -> bool:
    """Whether number `index` may become X: standalone (not part of "1/4", "3:30", "3rd"), positive, the
    only occurrence of its value in the question, and not a value that a word of the question implies
    (otherwise a use of that value in the solution could mean either)."""
    number = numbers[index]
    if number.glued or number.value <= 0:
        return False
    if sum(1 for n in numbers if n.value == number.value) > 1:
        return False
    return number.value not in constants
