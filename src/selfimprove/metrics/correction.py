"""Self-correction metrics of two-attempt episodes (Kumar et al. 2024, "Training Language Models to
Self-Correct via Reinforcement Learning", SCoRe, Sec. 3 "Evaluation protocol and metrics"):

    Acc@t1, Acc@t2        accuracy of the first and the second attempt
    Δ(t1, t2)             Acc@t2 - Acc@t1, the net improvement from self-correction
    Δi→c(t1, t2)          share of problems wrong at attempt 1 and right at attempt 2 (fixed)
    Δc→i(t1, t2)          share of problems right at attempt 1 and wrong at attempt 2 (broken)

so Δ = Δi→c - Δc→i. The two attempts are paired problem by problem, so each value comes with the paired
bootstrap interval of intervals.py (problems resampled with replacement, the same draw for both attempts)
and Δ with the exact McNemar p-value as its companion test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from selfimprove.errors import UserError
from selfimprove.metrics.intervals import Interval, bootstrap, mcnemar_exact
from selfimprove.types import Completion, Record

KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")
LABELS = {"acc_t1": "Acc@t1", "acc_t2": "Acc@t2", "delta": "Δ(t1,t2)", "delta_i2c": "Δi→c", "delta_c2i": "Δc→i"}


def _per_problem(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> dict[str, NDArray[np.float64]]:
    """Each metric as a per-problem value whose mean is the metric (Δ is the mean of b - a)."""
    fa, fb = a.astype(float), b.astype(float)
    return {"acc_t1": fa, "acc_t2": fb, "delta": fb - fa,
            "delta_i2c": (~a & b).astype(float), "delta_c2i": (a & ~b).astype(float)}


def _pair(iv: Interval | None) -> list[float] | None:
    return None if iv is None else [iv.low, iv.high]


def correction_metrics(first: Sequence[bool], second: Sequence[bool], n_resamples: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Acc@t1, Acc@t2, Δ, Δi→c, Δc→i of paired first/second-attempt verdicts (fractions in [0, 1]), with
    `intervals` {key: [low, high]} (paired bootstrap), `mcnemar_p` for Δ, and `n_problems`."""
    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise UserError(f"first and second attempts must pair up problem by problem; got {a.shape} and {b.shape}")
    values = _per_problem(a, b)
    out: dict[str, Any] = {"n_problems": int(a.size)}
    out.update({key: float(values[key].mean()) if a.size else None for key in KEYS})
    out["intervals"] = {
        key: _pair(bootstrap(lambda idx, v=values[key]: v[idx].mean(axis=-1), a.size, n_resamples, confidence, seed))
        for key in KEYS
    }
    out["mcnemar_p"] = mcnemar_exact(a, b) if a.size else None
    return out


def attempt_verdicts(completion: Completion, first: int = 0, second: int = -1) -> tuple[bool, bool] | None:
    """The (first, second) attempts' verdicts of a multi-attempt completion; None for a single attempt."""
    if len(completion.attempts) < 2:
        return None
    return bool(completion.attempts[first].correct), bool(completion.attempts[second].correct)


def records_correction(records: Sequence[Record], n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> dict[str, Any] | None:
    """correction_metrics of the greedy episodes' first and last attempts; None when no record has one."""
    pairs = [p for r in records if r.greedy is not None and (p := attempt_verdicts(r.greedy)) is not None]
    if not pairs:
        return None
    first, second = zip(*pairs)
    return correction_metrics(list(first), list(second), n_resamples, confidence, seed)
