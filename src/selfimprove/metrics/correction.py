"""Two-attempt self-correction metrics (Kumar et al. 2024, "Training Language Models to Self-Correct via
Reinforcement Learning", SCoRe, Sec. 6 "Evaluation protocol and metrics"):

    Acc@t1, Acc@t2        accuracy of the first and the second attempt
    Δ(t1, t2)             Acc@t2 - Acc@t1, the net gain from self-correction
    Δi→c(t1, t2)          share of problems wrong at attempt 1 and right at attempt 2 (fixed)
    Δc→i(t1, t2)          share of problems right at attempt 1 and wrong at attempt 2 (broken)

so Δ = Δi→c - Δc→i. The two attempts are paired problem by problem, so `correction_intervals` gives each value
the paired bootstrap interval of intervals.py (problems resampled with replacement, the same draw for both
attempts) and Δ the exact McNemar p-value as its companion test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from selfimprove.metrics.intervals import bootstrap, mcnemar_exact
from selfimprove.metrics.table import METRICS
from selfimprove.types import Completion, Record

KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")
LABELS = {key: METRICS[key].label for key in KEYS}  # labels and directions live in metrics/table.py


def correction_metrics(first: list[bool], second: list[bool]) -> dict[str, float | int]:
    """Acc@t1, Acc@t2, Δ = Acc@t2 − Acc@t1, Δi→c and Δc→i (shares of all problems), and `n`."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first attempts but {len(second)} second attempts; pair them one to one")
    n = len(first)
    if n == 0:
        return {"n": 0, "acc_t1": 0.0, "acc_t2": 0.0, "delta": 0.0, "delta_i2c": 0.0, "delta_c2i": 0.0}
    acc1, acc2 = sum(first) / n, sum(second) / n
    return {
        "n": n,
        "acc_t1": acc1,
        "acc_t2": acc2,
        "delta": acc2 - acc1,
        "delta_i2c": sum(not a and b for a, b in zip(first, second)) / n,
        "delta_c2i": sum(a and not b for a, b in zip(first, second)) / n,
    }


def _per_problem(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> dict[str, NDArray[np.float64]]:
    """Each metric as a per-problem value whose mean is the metric (Δ is the mean of b - a)."""
    fa, fb = a.astype(float), b.astype(float)
    return {"acc_t1": fa, "acc_t2": fb, "delta": fb - fa,
            "delta_i2c": (~a & b).astype(float), "delta_c2i": (a & ~b).astype(float)}


def correction_intervals(first: Sequence[bool], second: Sequence[bool], n_resamples: int = 2000,
                         confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """`intervals` {key: [low, high] or None} of each metric (paired bootstrap over problems) and `mcnemar_p`
    for Δ (None without problems)."""
    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"{a.size} first attempts but {b.size} second attempts; pair them one to one")
    values = _per_problem(a, b)
    intervals = {}
    for key in KEYS:
        iv = bootstrap(lambda idx, v=values[key]: v[idx].mean(axis=-1), a.size, n_resamples, confidence, seed)
        intervals[key] = None if iv is None else [iv.low, iv.high]
    return {"intervals": intervals, "mcnemar_p": mcnemar_exact(a, b) if a.size else None}


def attempt_outcomes(completion: Completion) -> tuple[bool, bool] | None:
    """Whether the first and the last attempt of a multi-attempt completion are right; None for a single attempt."""
    if len(completion.attempts) < 2:
        return None
    return bool(completion.attempts[0].correct), bool(completion.attempts[-1].correct)


def records_correction(records: Sequence[Record], n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> dict[str, Any] | None:
    """correction_metrics and correction_intervals of the greedy episodes' first and last attempts; None when
    no record holds a multi-attempt greedy episode."""
    pairs = [p for r in records if r.greedy is not None and (p := attempt_outcomes(r.greedy)) is not None]
    if not pairs:
        return None
    first, second = [p[0] for p in pairs], [p[1] for p in pairs]
    return {**correction_metrics(first, second), **correction_intervals(first, second, n_resamples, confidence, seed)}


def episode_pairs(records: Sequence[Record]) -> dict[str, tuple[bool, bool]]:
    """{problem_id: (first attempt right, last attempt right)} of the records' greedy episodes."""
    return {r.problem_id: p for r in records if r.greedy is not None and (p := attempt_outcomes(r.greedy)) is not None}


def correction_change(before: dict[str, tuple[bool, bool]], after: dict[str, tuple[bool, bool]],
                      n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """How each metric changed from one model's episodes to another's on the same problems (matched by id):
    {key: {"value", "interval": [low, high]}}, the paired bootstrap of intervals.difference_interval (e.g. did
    training raise Δ, did it lower Δc→i)."""
    from selfimprove.metrics.intervals import difference_interval

    ids = [pid for pid in before if pid in after]
    if not ids:
        return {}
    a = _per_problem(np.array([before[i][0] for i in ids]), np.array([before[i][1] for i in ids]))
    b = _per_problem(np.array([after[i][0] for i in ids]), np.array([after[i][1] for i in ids]))
    out: dict[str, Any] = {"n": len(ids)}
    for key in KEYS:
        iv = difference_interval(a[key], b[key], False, n_resamples, confidence, seed)
        out[key] = {"value": float(b[key].mean() - a[key].mean()), "interval": None if iv is None else [iv.low, iv.high]}
    return out
