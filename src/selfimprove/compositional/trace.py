"""Where each number of a calculator chain comes from, and the chain re-run with one question number
replaced by X.

A number written in a step is the value of an earlier step, a number of the question (or its percent
form, 25% -> 0.25), or a constant the question's words imply ("half" -> 2). Replacing a question number
by X changes that number wherever the chain uses it and every later value derived from it (Hosseini et
al. 2024, Sec. 2: the new answer is computed by re-running the solution). When a written number could
come from several places and those readings now disagree, the substitution is ambiguous and rejected
rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from selfimprove.compositional.chain import Chain, ChainError, evaluate, parse_chain
from selfimprove.compositional.numbers import (
    QuestionNumber,
    find_numbers,
    replaceable,
    stated_constants,
    unit_constants,
)

# Numbers accepted without any origin in the question: 0, 1 and 2 ("1 coach per team", "2 sides") are
# too common to be stated. Larger ones are refused: most are results computed in the prose ("12 - 5 = 7"
# or mental arithmetic), which a substitution could not update.
FALLBACK_CONSTANTS = frozenset(Fraction(v) for v in (0, 1, 2))

_PROBE = Fraction(1000003, 7)
SourceKind = Literal["question", "percent", "step", "constant"]
# A percentage p reaches a solution as p/100 ("25% of"), 1 + p/100 ("25% more") or 1 - p/100 ("25% off").
PERCENT_SHIFTS = (0, 1, -1)


@dataclass(frozen=True)
class Source:
    """One possible origin of a written number: question number `index` (or its percent form, see
    `percent_of`), step `index`'s result, or a constant."""

    kind: SourceKind
    index: int = -1
    shift: int = 0

    def percent_of(self, p: Fraction) -> Fraction:
        """p/100, 1 + p/100 or 1 - p/100 for shift 0, 1, -1."""
        return {0: p / 100, 1: 1 + p / 100, -1: 1 - p / 100}[self.shift]


@dataclass(frozen=True)
class TracedSolution:
    """A GSM8K problem whose solution re-runs: its chain, the question's numbers, the possible sources of
    every written number (per step, per number), and the question numbers that may become X."""

    question: str
    chain: Chain
    numbers: tuple[QuestionNumber, ...]
    sources: tuple[tuple[frozenset[Source], ...], ...]
    candidates: tuple[int, ...]
    ambiguous: tuple[int, ...] = ()


@dataclass(frozen=True)
class Substitution:
    """The chain re-run with question number `index` replaced by `x`: each step's written numbers and
    result, and the new final answer."""

    index: int
    x: Fraction
    literals: tuple[tuple[Fraction, ...], ...]
    values: tuple[Fraction, ...]

    @property
    def answer(self) -> Fraction:
        return self.values[-1]


def _sources(
    value: Fraction,
    step: int,
    chain: Chain,
    numbers: tuple[QuestionNumber, ...],
    stated: set[Fraction],
    units: set[Fraction],
) -> frozenset[Source]:
    """Every origin a written number may have. A constant stated in words always counts (it competes with
    the other readings); a unit factor or a fallback constant only when nothing else explains the number,
    since "60" after an earlier result of 60 in a problem about hours is that result far more often."""
    found = {Source("question", i) for i, n in enumerate(numbers) if n.value == value}
    for i, n in enumerate(numbers):
        forms = (Source("percent", i, k) for k in PERCENT_SHIFTS) if n.percent else ()
        found |= {s for s in forms if s.percent_of(n.value) == value}
    found |= {Source("step", j) for j in range(step) if chain.steps[j].stated == value}
    if value in stated or (not found and (value in units or value in FALLBACK_CONSTANTS)):
        found.add(Source("constant"))
    return frozenset(found)


def trace(question: str, solution: str) -> TracedSolution:
    """Parse a solution and find the origin of every number it writes, and which question numbers can
    become X without ambiguity (`candidates`; the numbers set aside as ambiguous in `ambiguous`).
    Raises ChainError: the reasons of `parse_chain`, or 'unexplained_literal' when a step uses a number
    from nowhere (typically one the solution computed in prose without an annotation, which a
    substitution could not update)."""
    chain = parse_chain(solution)
    numbers = tuple(find_numbers(question))
    stated, units = stated_constants(question), unit_constants(question)
    sources = []
    for i, step in enumerate(chain.steps):
        per_literal = tuple(_sources(v, i, chain, numbers, stated, units) for v in step.literals)
        for v, found in zip(step.literals, per_literal, strict=True):
            if not found:
                raise ChainError("unexplained_literal", f"{v} in <<{step.expr}>> is not in the question nor computed")
        sources.append(per_literal)
    used = {s.index for per_step in sources for found in per_step for s in found if s.kind in ("question", "percent")}
    candidates = tuple(i for i in sorted(used) if replaceable(list(numbers), i, stated | units))
    traced = TracedSolution(question, chain, numbers, tuple(sources), candidates)
    ambiguous = tuple(i for i in candidates if _is_ambiguous(traced, i))
    clear = tuple(i for i in candidates if i not in ambiguous)
    return TracedSolution(question, chain, numbers, tuple(sources), clear, ambiguous)


def _is_ambiguous(traced: TracedSolution, index: int) -> bool:
    """Whether replacing number `index` leaves some written number with readings that disagree. Probed
    with a value no GSM8K quantity takes, so that no coincidence hides a disagreement."""
    try:
        substitute(traced, index, traced.numbers[index].value + _PROBE)
    except ChainError as e:
        return e.reason == "ambiguous"
    return False


def _reading(source: Source, original: Fraction, index: int, x: Fraction, values: list[Fraction]) -> Fraction:
    if source.kind == "step":
        return values[source.index]
    if source.index == index and source.kind == "question":
        return x
    if source.index == index and source.kind == "percent":
        return source.percent_of(x)
    return original


def substitute(traced: TracedSolution, index: int, x: Fraction) -> Substitution:
    """Re-run the chain with question number `index` replaced by `x`, propagating every changed value to
    the later steps that use it. Raises ChainError 'untraced' when the chain never uses that number,
    'ambiguous' when a written number's possible origins now disagree, 'division_by_zero'."""
    if index not in traced.candidates:
        raise ChainError("untraced", f"question number {index} cannot be traced through the chain")
    values: list[Fraction] = []
    literals = []
    for step, per_literal in zip(traced.chain.steps, traced.sources, strict=True):
        new = []
        for original, found in zip(step.literals, per_literal, strict=True):
            readings = {_reading(s, original, index, x, values) for s in found}
            if len(readings) > 1:
                raise ChainError("ambiguous", f"{original} in <<{step.expr}>> could be any of {sorted(readings)}")
            new.append(readings.pop())
        literals.append(tuple(new))
        values.append(evaluate(step.template, dict(enumerate(new))))
    return Substitution(index, x, tuple(literals), tuple(values))
