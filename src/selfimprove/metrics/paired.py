"""Paired intervals of the changes the verdict judges, from two iterations' `per_problem` blocks
(metrics.json, written by selfimprove.metrics.summary): greedy pass@1 (with the exact McNemar test),
coverage@N, each diversity measure (relative change), the easy-hard disparity. Problems are matched by
id; only problems evaluated at both iterations count. The method is intervals.py's paired bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from selfimprove.metrics.intervals import Interval, bootstrap, difference_interval, mcnemar_exact, mean_interval

PerProblem = dict[str, Any]


@dataclass(frozen=True)
class Resampling:
    """How intervals are drawn (the verdict's config)."""

    n_resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0


def _column(pp: PerProblem, *path: str) -> list[Any] | None:
    node: Any = pp
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, list) else None


def _floats(values: list[Any], idx: list[int]) -> NDArray[np.float64]:
    return np.array([np.nan if values[i] is None else float(values[i]) for i in idx], dtype=float)


def matched(before: PerProblem, after: PerProblem) -> tuple[list[int], list[int]]:
    """Positions of the problems present in both blocks, in the baseline's order."""
    ids_a, ids_b = _column(before, "problem_id") or [], _column(after, "problem_id") or []
    where_b = {pid: i for i, pid in enumerate(ids_b)}
    pairs = [(i, where_b[pid]) for i, pid in enumerate(ids_a) if pid in where_b]
    return [i for i, _ in pairs], [j for _, j in pairs]


def _paired(before: PerProblem, after: PerProblem, *path: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One per-problem column at both iterations, over matched problems (empty when either lacks it)."""
    col_a, col_b = _column(before, *path), _column(after, *path)
    if col_a is None or col_b is None:
        return np.empty(0), np.empty(0)
    ia, ib = matched(before, after)
    return _floats(col_a, ia), _floats(col_b, ib)


def greedy_change(before: PerProblem, after: PerProblem, r: Resampling) -> tuple[Interval | None, float | None]:
    """Interval of the change of greedy pass@1, and the exact McNemar p-value, over problems greedy at both."""
    a, b = _paired(before, after, "greedy")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0:
        return None, None
    return difference_interval(a, b, False, r.n_resamples, r.confidence, r.seed), mcnemar_exact(a > 0, b > 0)


def coverage_change(before: PerProblem, after: PerProblem, r: Resampling) -> Interval | None:
    """Interval of the change of coverage@N (a problem is covered when one of its samples is right)."""
    a, b = _paired(before, after, "correct_samples")
    na, nb = _paired(before, after, "samples")
    keep = (na > 0) & (nb > 0)
    return difference_interval((a[keep] > 0).astype(float), (b[keep] > 0).astype(float), False,
                               r.n_resamples, r.confidence, r.seed) if keep.any() else None


def diversity_change(before: PerProblem, after: PerProblem, group: str, key: str, r: Resampling) -> Interval | None:
    """Interval of the relative change of one diversity measure's mean over the problems in `group`."""
    a, b = _paired(before, after, "diversity", group, key)
    if not (np.isfinite(a).any() and np.isfinite(b).any()):
        return None
    return difference_interval(a, b, True, r.n_resamples, r.confidence, r.seed)


def disparity_change(before: PerProblem, after: PerProblem, r: Resampling) -> Interval | None:
    """Interval of the change of (pass@1 easiest - pass@1 hardest) / pass@1 easiest, with the easiest and
    hardest difficulty levels fixed to those of the matched problems."""
    a, b = _paired(before, after, "greedy")
    da, _ = _paired(before, after, "difficulty")
    keep = np.isfinite(a) & np.isfinite(b) & np.isfinite(da)
    a, b, level = a[keep], b[keep], da[keep]
    if a.size == 0 or np.unique(level).size < 2:
        return None
    easy, hard = level == level.min(), level == level.max()

    def disparity(values: NDArray[np.float64], idx: NDArray[np.int64]) -> NDArray[np.float64]:
        v, e, h = values[idx], easy[idx], hard[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            p_easy, p_hard = (v * e).sum(-1) / e.sum(-1), (v * h).sum(-1) / h.sum(-1)
            return np.where(p_easy > 0, (p_easy - p_hard) / p_easy, np.nan)

    return bootstrap(lambda idx: disparity(b, idx) - disparity(a, idx), a.size, r.n_resamples, r.confidence, r.seed)


def values_of(pp: PerProblem, measure: str, group: str = "correct") -> NDArray[np.float64]:
    """One iteration's per-problem values of a measure: 'greedy' (0/1), 'coverage' (0/1: a sample was
    right), or a diversity key of `group` (distinct-n, semantic, logical); NaN where not measured."""
    every = list(range(len(_column(pp, "problem_id") or [])))
    if measure == "greedy":
        return _floats(_column(pp, "greedy") or [None] * len(every), every)
    if measure == "coverage":
        right, n = _column(pp, "correct_samples") or [], _column(pp, "samples") or []
        return np.array([float(c > 0) if m else np.nan for c, m in zip(right, n)], dtype=float)
    return _floats(_column(pp, "diversity", group, measure) or [None] * len(every), every)


def value_interval(pp: PerProblem | None, measure: str, r: Resampling, group: str = "correct") -> Interval | None:
    """Bootstrap interval of one iteration's mean of a measure (values_of); None without per-problem values."""
    if not isinstance(pp, dict):
        return None
    values = values_of(pp, measure, group)
    return mean_interval(values, r.n_resamples, r.confidence, r.seed) if np.isfinite(values).any() else None
