"""One split's metrics for an iteration's metrics.json: the measurements of Wu et al. 2024
("Progress or Regress? Self-Improvement Reversal in Post-training") in one dict.

Keys (all rates are fractions in [0, 1]; a value is None when it cannot be measured from the records,
e.g. no greedy completions or no samples; `_flexible` twins use the lenient extraction, as
lm-evaluation-harness reports strict and flexible side by side):

    n_problems, n_greedy, samples_per_problem (N: the fewest samples any sampled problem has)
    greedy_pass@1, greedy_pass@1_flexible
    pass@k, pass@k_flexible        {k: value} for k = 1, 2, 4, ... <= N (Chen et al. 2021)
    maj@k, maj@k_flexible          {k: value}, same ks (self-consistency, Wang et al. 2022)
    sampled_accuracy(_flexible)    mean fraction of correct samples      } see coverage.py for why
    coverage@N(_flexible)          fraction of problems with >= 1 correct } both are reported
    diversity                      {'correct': {...}, 'incorrect': {...}} (diversity.py)
    per_difficulty, disparity      greedy pass@1 per level and the easy-hard disparity (generalization.py)
    steps                          false-positive rate, CoT-pass@k (steps.py); None without step checks
    correction                     Acc@t1, Acc@t2, Δ, Δi→c, Δc→i with intervals (correction.py) of the greedy
                                   multi-attempt episodes; None when the greedy completions are single attempts
    per_problem                    the per-problem values behind the numbers above, for paired intervals:
                                   problem_id, difficulty, greedy (0/1, None without a greedy completion),
                                   samples, correct_samples, and diversity {group: {measure: [value]}}

k keys are strings because JSON object keys are. Problems with fewer samples than N still use all of
theirs (pass@k's estimator and maj@k's blocks are per problem).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfimprove.errors import UserError
from selfimprove.metrics.correction import records_correction
from selfimprove.metrics.coverage import coverage, sampled_accuracy
from selfimprove.metrics.diversity import Values, problem_values, summarize_values
from selfimprove.metrics.generalization import difficulty_of, disparity, ood_gap, pass1_by_difficulty
from selfimprove.metrics.passk import maj_at_k, pass_at_k, powers_of_two
from selfimprove.metrics.records import greedy_grade, sample_answers, sample_grades
from selfimprove.metrics.semantic import EmbeddingCache
from selfimprove.metrics.steps import step_metrics
from selfimprove.types import Record


def _mean_or_none(values: Sequence[float | bool]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def greedy_metrics(records: Sequence[Record]) -> dict[str, Any]:
    """Greedy pass@1, strict and flexible, over records that have a greedy completion."""
    with_greedy = [r for r in records if r.greedy is not None]
    return {
        "n_greedy": len(with_greedy),
        "greedy_pass@1": _mean_or_none([bool(greedy_grade(r)) for r in with_greedy]),
        "greedy_pass@1_flexible": _mean_or_none([bool(greedy_grade(r, flexible=True)) for r in with_greedy]),
    }


def sampled_metrics(records: Sequence[Record], flexible: bool = False) -> dict[str, Any]:
    """pass@k, maj@k, sampled accuracy and coverage@N for one kind of grade (strict or flexible)."""
    sampled = [r for r in records if r.samples]
    suffix = "_flexible" if flexible else ""
    grades = [sample_grades(r, flexible) for r in sampled]
    ks = powers_of_two(min(len(v) for v in grades)) if grades else []
    answers = [sample_answers(r, flexible) for r in sampled]
    return {
        f"pass@k{suffix}": {str(k): float(np.mean([pass_at_k(len(v), sum(v), k) for v in grades])) for k in ks},
        f"maj@k{suffix}": {
            str(k): float(np.mean([maj_at_k(a, v, k) for a, v in zip(answers, grades)])) for k in ks
        },
        f"sampled_accuracy{suffix}": sampled_accuracy(grades),
        f"coverage@N{suffix}": coverage(grades),
    }


def summarize(
    records: Sequence[Record], embeddings: EmbeddingCache | None = None, min_group: int = 2
) -> dict[str, Any]:
    """The metrics of one split at one iteration (keys in the module docstring). Semantic diversity is
    computed only when an `EmbeddingCache` is given; otherwise it is None."""
    sampled = [r for r in records if r.samples]
    per_level = pass1_by_difficulty(records)
    values = problem_values(records, embeddings, min_group)
    return {
        "n_problems": len(records),
        "samples_per_problem": min((len(r.samples) for r in sampled), default=0),
        **greedy_metrics(records),
        **sampled_metrics(records),
        **sampled_metrics(records, flexible=True),
        "diversity": summarize_values(values),
        "per_difficulty": per_level,
        "disparity": disparity(per_level),
        "steps": step_metrics(records),
        "correction": records_correction(records),
        "per_problem": per_problem(records, values),
    }


def per_problem(records: Sequence[Record], diversity_values: Values) -> dict[str, Any]:
    """The per-problem values (aligned lists) that the verdict's paired intervals resample."""
    return {
        "problem_id": [r.problem_id for r in records],
        "difficulty": [difficulty_of(r) for r in records],
        "greedy": [None if (v := greedy_grade(r)) is None else int(v) for r in records],
        "samples": [len(r.samples) for r in records],
        "correct_samples": [sum(sample_grades(r)) for r in records],
        "diversity": diversity_values,
    }


def summarize_splits(
    records: Sequence[Record],
    embeddings: EmbeddingCache | None = None,
    id_split: str = "test",
    ood_split: str = "ood",
    min_group: int = 2,
) -> dict[str, Any]:
    """{split: summarize(records of that split)} for every split present, plus 'generalization':
    in-distribution and OOD greedy pass@1 and their gap (generalization.ood_gap)."""
    by_split: dict[str, list[Record]] = {}
    for record in records:
        by_split.setdefault(record.split, []).append(record)
    if "generalization" in by_split:
        raise UserError("a split may not be named 'generalization': that key holds the ID-OOD comparison")
    out: dict[str, Any] = {split: summarize(rs, embeddings, min_group) for split, rs in sorted(by_split.items())}
    id_pass = out.get(id_split, {}).get("greedy_pass@1")
    ood_pass = out.get(ood_split, {}).get("greedy_pass@1")
    out["generalization"] = {"id_pass@1": id_pass, "ood_pass@1": ood_pass, "ood_gap": ood_gap(id_pass, ood_pass)}
    return out
