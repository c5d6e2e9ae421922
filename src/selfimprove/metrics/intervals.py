"""Is a change real? Paired intervals over problems for iteration-vs-baseline comparisons.

Two evaluations of the same problems are paired: a problem that is hard for M_0 is hard for M_t too, so
the change of a mean over problems varies far less than two independent proportions would suggest. We
resample *problems* with replacement (the same draw for both iterations) and recompute the change on
each resample: the paired bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap",
ch. 13: percentile intervals). The seed is fixed, so a report rebuilt from the same files shows the same
interval. For greedy pass@1 the exact McNemar test (McNemar 1947; exact form: a two-sided binomial test
on the discordant problems, scipy.stats.binomtest) is given beside the interval as a companion.

The interval of a statistic is the central `confidence` share of its resampled values; resamples on
which the statistic is undefined (NaN, e.g. a ratio whose baseline is 0 on that resample) are left out.
Used by the verdict (selfimprove.verdict) for every signal, and by the report for bands and tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binomtest

from selfimprove.errors import UserError

Statistic = Callable[[NDArray[np.int64]], NDArray[np.float64]]  # resample indices (R, n) -> values (R,)
_CHUNK_CELLS = 2_000_000  # resample indices held at once (R * n), so memory stays bounded


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval at `confidence`, from `n` paired problems."""

    low: float
    high: float
    confidence: float
    n: int

    def excludes(self, value: float = 0.0) -> bool:
        return value < self.low or value > self.high


def bootstrap(statistic: Statistic, n: int, n_resamples: int = 2000, confidence: float = 0.95,
              seed: int = 0) -> Interval | None:
    """Percentile interval of `statistic` over `n_resamples` resamples of n problems (with replacement,
    seeded); None when n is 0 or the statistic is undefined on every resample."""
    if not 0 < confidence < 1 or n_resamples < 1:
        raise UserError(f"confidence must lie in (0, 1) and n_resamples be positive; got {confidence}, {n_resamples}")
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // n)
    values = np.concatenate([
        statistic(rng.integers(0, n, size=(min(rows, n_resamples - start), n)))
        for start in range(0, n_resamples, rows)
    ])
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(float(low), float(high), confidence, n)


def nanmean_rows(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean of each row over its finite entries; NaN for a row without any (no warning)."""
    mask = np.isfinite(values)
    counts = mask.sum(axis=-1)
    sums = np.where(mask, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def mean_interval(values: NDArray[np.float64], n_resamples: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> Interval | None:
    """Interval of the mean of per-problem values (NaN = not measured on that problem)."""
    values = np.asarray(values, dtype=float)
    return bootstrap(lambda idx: nanmean_rows(values[idx]), values.size, n_resamples, confidence, seed)


def difference_interval(before: NDArray[np.float64], after: NDArray[np.float64], relative: bool = False,
                        n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval | None:
    """Paired interval of mean(after) - mean(before), or of that change relative to mean(before), over
    problems aligned by position (NaN = not measured on that problem at that iteration)."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if a.shape != b.shape:
        raise UserError(f"paired values must align problem by problem; got {a.shape} and {b.shape}")

    def change(idx: NDArray[np.int64]) -> NDArray[np.float64]:
        x, y = nanmean_rows(a[idx]), nanmean_rows(b[idx])
        if not relative:
            return y - x
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(x > 0, (y - x) / x, np.nan)

    return bootstrap(change, a.size, n_resamples, confidence, seed)


def mcnemar_exact(before: NDArray[np.bool_], after: NDArray[np.bool_]) -> float:
    """Two-sided exact McNemar p-value for paired right/wrong outcomes: a binomial test of the problems
    that only `after` solves against those that only `before` solves (1.0 when there are none)."""
    a, b = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    gained, lost = int(np.sum(b & ~a)), int(np.sum(a & ~b))
    if gained + lost == 0:
        return 1.0
    return float(binomtest(gained, gained + lost, 0.5).pvalue)
