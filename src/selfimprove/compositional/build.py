"""Build Compositional GSM pairs (Hosseini et al. 2024, Sec. 2, Fig. 2).

Q1 is an unmodified GSM8K problem; in Q2 one number becomes X, the answer to Q1, and Q2's new answer is
computed by re-running Q2's calculator chain. "Question-1 and the number to modify in Question-2 are
chosen to have a new final answer which is a positive integer not too far from the old answer" (Fig. 2):
for each Q2 (in seeded order) we draw up to `max_attempts_per_q2` (Q1, number) combinations and keep the
first that passes; every rejection is counted by reason.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from selfimprove.compositional.chain import ChainError
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.pairs import GSMItem, Pair, fmt, integer_answer, load_gsm8k
from selfimprove.compositional.trace import Substitution, TracedSolution, substitute, trace
from selfimprove.errors import UserError
from selfimprove.jsonl import write_jsonl


@dataclass
class BuildStats:
    """What the builder did. Of `q2_total` problems, `q2_considered` were examined before `num_pairs` was
    reached; each of those is built, rejected for a reason of its own solution (`q2_rejected`) or
    exhausted (all its draws rejected). Every draw is built or rejected by reason (`attempts_rejected`).
    A Q1 is eligible when its answer is a positive whole number and its text does not use the letter X."""

    q2_total: int = 0
    q2_considered: int = 0
    q2_rejected: Counter[str] = field(default_factory=Counter)
    q2_exhausted: int = 0
    q1_eligible: int = 0
    q1_ineligible: int = 0
    attempts: int = 0
    attempts_rejected: Counter[str] = field(default_factory=Counter)
    built: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "built": self.built,
            "q2_total": self.q2_total,
            "q2_considered": self.q2_considered,
            "q2_rejected": dict(sorted(self.q2_rejected.items())),
            "q2_exhausted": self.q2_exhausted,
            "q1_eligible": self.q1_eligible,
            "q1_ineligible": self.q1_ineligible,
            "attempts": self.attempts,
            "attempts_rejected": dict(sorted(self.attempts_rejected.items())),
        }


class _Q1Draw:
    """Q1s in a seeded order, reshuffled after each pass. A Q1 already in a built pair is skipped while
    unused ones remain, so that the pairs spread over as many distinct Q1s as possible."""

    def __init__(self, items: list[GSMItem], rng: random.Random) -> None:
        self.items, self.rng, self.pos = list(items), rng, len(items)
        self.used: set[str] = set()

    def next(self, exclude: str) -> GSMItem:
        if len(self.used) >= len(self.items) - 1 and all(q.id in self.used or q.id == exclude for q in self.items):
            self.used.clear()
        for _ in range(2 * len(self.items)):
            if self.pos >= len(self.items):
                self.rng.shuffle(self.items)
                self.pos = 0
            item = self.items[self.pos]
            self.pos += 1
            if item.id != exclude and item.id not in self.used:
                return item
        raise UserError(f"no Q1 other than {exclude} has a positive whole-number answer; give more Q1 problems")


def _positive_int(item: GSMItem) -> int | None:
    try:
        value = integer_answer(item.answer)
    except ChainError:
        return None
    return value if value is not None and value > 0 else None


def rejection(traced: TracedSolution, sub: Substitution, config: BuildConfig) -> str | None:
    """Why a substitution is not kept, or None: checks of the paper's Fig. 2 (positive integer, changed,
    not too far) and of the chain staying sensible (whole counts stay whole, amounts stay non-negative)."""
    new, old = sub.answer, traced.chain.answer
    if new.denominator != 1 or new <= 0:
        return "not_positive_integer"
    if new == old:
        return "unchanged"
    if abs(new - old) / old > Fraction(config.max_relative_change):
        return "too_far"
    for step, value in zip(traced.chain.steps, sub.values, strict=True):
        if config.require_integer_steps and step.stated.denominator == 1 and value.denominator != 1:
            return "non_integer_step"
        if config.require_nonnegative_steps and step.stated >= 0 and value < 0:
            return "negative_step"
    return None


def make_pair(q1: GSMItem, q2: GSMItem, traced: TracedSolution, sub: Substitution) -> Pair:
    """The pair record: Q2's text with the number's digits replaced by X (a `$` or `%` around it stays)."""
    number = traced.numbers[sub.index]
    x = fmt(sub.x)
    before, after = q2.question[: number.start], q2.question[number.end :]
    steps = tuple(
        f"{_render(step.template, lits)}={fmt(value)}"
        for step, lits, value in zip(traced.chain.steps, sub.literals, sub.values, strict=True)
    )
    return Pair(
        id=f"{q1.id}+{q2.id}",
        q1_id=q1.id,
        q1_question=q1.question,
        q1_solution=q1.solution,
        q1_answer=int(sub.x),
        q2_id=q2.id,
        q2_question_original=q2.question,
        q2_solution_original=q2.solution,
        q2_question=f"{before}X{after}",
        q2_question_filled=f"{before}{x}{after}",
        replaced_text=number.text,
        replaced_start=number.start,
        replaced_end=number.end,
        q2_answer_original=int(traced.chain.answer),
        q2_answer=int(sub.answer),
        q2_steps=steps,
    )


def _render(template: str, literals: tuple[Fraction, ...]) -> str:
    # Replace the highest-numbered names first so that v1 does not clobber v10.
    for i in range(len(literals) - 1, -1, -1):
        template = template.replace(f"v{i}", fmt(literals[i]))
    return template


def _names_x(question: str) -> bool:
    """Whether a question already uses the letter X ("Company X"): composed, it would have two Xs."""
    return re.search(r"\bX\b", question) is not None


def _traced_q2(q2: GSMItem, stats: BuildStats) -> TracedSolution | None:
    if _names_x(q2.question):
        stats.q2_rejected["question_names_x"] += 1
        return None
    try:
        traced = trace(q2.question, q2.solution)
    except ChainError as e:
        stats.q2_rejected[e.reason] += 1
        return None
    if traced.chain.answer.denominator != 1 or traced.chain.answer <= 0:
        stats.q2_rejected["answer_not_positive_integer"] += 1
    elif not traced.candidates:
        stats.q2_rejected["no_replaceable_number"] += 1
    else:
        return traced
    return None


def _pair_for(
    q2: GSMItem, traced: TracedSolution, q1s: _Q1Draw, rng: random.Random, config: BuildConfig, stats: BuildStats
) -> Pair | None:
    for _ in range(config.max_attempts_per_q2):
        q1 = q1s.next(exclude=q2.id)
        index = rng.choice(traced.candidates)
        stats.attempts += 1
        try:
            sub = substitute(traced, index, Fraction(int(q1.answer)))
        except ChainError as e:
            stats.attempts_rejected[e.reason] += 1
            continue
        reason = rejection(traced, sub, config)
        if reason is None:
            q1s.used.add(q1.id)
            return make_pair(q1, q2, traced, sub)
        stats.attempts_rejected[reason] += 1
    stats.q2_exhausted += 1
    return None


def build_pairs(
    q1_rows: Sequence[GSMItem], q2_rows: Sequence[GSMItem], config: BuildConfig
) -> tuple[list[Pair], BuildStats]:
    """Pairs and the build statistics; deterministic for a given input order and `config.seed`. Q1 and Q2
    may be the same list (the paper pairs GSM8K test problems with each other); a problem is never paired
    with itself, and each Q2 is used at most once."""
    rng = random.Random(config.seed)
    stats = BuildStats(q2_total=len(q2_rows))
    eligible = [q for q in q1_rows if _positive_int(q) is not None and not _names_x(q.question)]
    stats.q1_eligible, stats.q1_ineligible = len(eligible), len(q1_rows) - len(eligible)
    if not eligible:
        raise UserError("no Q1 problem has a positive whole-number answer (and no X); give GSM8K problems as Q1")
    q1s = _Q1Draw(eligible, rng)
    pairs: list[Pair] = []
    for q2 in rng.sample(list(q2_rows), len(q2_rows)):
        if config.num_pairs is not None and len(pairs) >= config.num_pairs:
            break
        stats.q2_considered += 1
        traced = _traced_q2(q2, stats)
        pair = _pair_for(q2, traced, q1s, rng, config, stats) if traced else None
        if pair is not None:
            pairs.append(pair)
    stats.built = len(pairs)
    return pairs, stats


def build_from_file(path: Path, out_path: Path, config: BuildConfig, q1_path: Path | None = None) -> BuildStats:
    """Build pairs from one GSM8K JSONL (Q1 and Q2 both drawn from it, as in the paper, unless `q1_path`
    names another file for Q1) and write them to `out_path` atomically. Returns the statistics."""
    q2_items = load_gsm8k(Path(path))
    q1_items = load_gsm8k(Path(q1_path)) if q1_path is not None else q2_items
    pairs, stats = build_pairs(q1_items, q2_items, config)
    if not pairs:
        raise UserError(
            f"no pair could be built from {path}: {stats.to_dict()}; raise max_relative_change or max_attempts_per_q2"
        )
    write_jsonl(Path(out_path), (p.to_dict() for p in pairs))
    return stats
