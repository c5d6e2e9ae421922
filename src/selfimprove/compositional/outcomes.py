"""Per-pair outcomes for the reasoning gap, read from the greedy completions of the three splits of
`CompositionalGSMTask` (pairs, q1, q2), joined by pair id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from selfimprove.compositional.gap import GapReport, reasoning_gap
from selfimprove.compositional.task import CompositionalGSMTask
from selfimprove.errors import UserError
from selfimprove.types import ExtractMode, Problem, Record


@dataclass(frozen=True)
class PairOutcomes:
    """Aligned per-pair outcomes: Q1 alone, Q2 alone, Q1 and Q2 inside the composition."""

    pair_ids: list[str]
    q1_alone: list[bool]
    q2_alone: list[bool]
    comp_q1: list[bool]
    comp_q2: list[bool]

    def gap(self, n_resamples: int = 10_000, confidence: float = 0.95, seed: int = 0) -> GapReport:
        return reasoning_gap(
            self.q1_alone,
            self.q2_alone,
            self.comp_q1,
            self.comp_q2,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )


def _text(record: Record) -> str:
    if record.greedy is None:
        raise UserError(f"record {record.problem_id} has no greedy completion; evaluate with greedy decoding first")
    return record.greedy.text


def pair_outcomes(
    task: CompositionalGSMTask,
    pairs: Sequence[Record],
    q1: Sequence[Record],
    q2: Sequence[Record],
    mode: ExtractMode = "strict",
) -> PairOutcomes:
    """Join the records of the `pairs`, `q1` and `q2` splits (q1/q2 ids are `<pair id>/q1`, `/q2`).
    A pair without both single-question records is an error: the gap needs all three on the same pairs."""
    singles = {r.problem_id: r for r in (*q1, *q2)}
    missing = [r.problem_id for r in pairs if not {f"{r.problem_id}/q1", f"{r.problem_id}/q2"} <= singles.keys()]
    if missing:
        raise UserError(f"{len(missing)} pairs lack q1/q2 records (first: {missing[0]}); evaluate all three splits")
    out = PairOutcomes([], [], [], [], [])
    for record in pairs:
        problem = Problem(record.problem_id, record.prompt, record.gold, record.metadata)
        outcome = task.verify_pair(problem, _text(record), mode)
        alone = [singles[f"{record.problem_id}/{k}"] for k in ("q1", "q2")]
        out.pair_ids.append(record.problem_id)
        out.q1_alone.append(task.verify(task.extract(_text(alone[0]), mode), alone[0].gold))
        out.q2_alone.append(task.verify(task.extract(_text(alone[1]), mode), alone[1].gold))
        out.comp_q1.append(outcome.q1_correct)
        out.comp_q2.append(outcome.q2_correct)
    return out
