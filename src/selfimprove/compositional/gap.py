"""The reasoning gap of Compositional GSM and its distraction analysis (Hosseini et al. 2024).

With S1 the accuracy on the Q1 set alone, S2 on the Q2 set alone (X replaced by its value) and S_comp on
the composed pairs (both Q1 and Q2 answered right), a model that reasons as well in composition as
alone would score S1·S2; the reasoning gap is Δ = S_comp - S1·S2 (paper, Sec. 2 and Fig. 1).
Sec. 4 of the paper traces the gap to distraction (Q1 is solved less often when Q2 follows it) and to
second-hop failures (Q2 is missed even though Q1 was right). Inputs are per-pair outcomes; confidence
intervals come from the percentile bootstrap over pairs (Efron & Tibshirani 1993), seeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from selfimprove.errors import UserError

Outcomes = tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]
_CHUNK = 1000


def _mean(a: NDArray[np.bool_]) -> NDArray[np.float64]:
    return np.asarray(a.mean(axis=-1), dtype=np.float64)


def _conditional(hit: NDArray[np.bool_], given: NDArray[np.bool_]) -> NDArray[np.float64]:
    """P(hit | given) along the last axis; NaN where `given` never holds."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((hit & given).sum(axis=-1) / given.sum(axis=-1), dtype=np.float64)


def _s_comp(v: Outcomes) -> NDArray[np.float64]:
    return _mean(v[2] & v[3])


# Each statistic maps (q1_alone, q2_alone, comp_q1, comp_q2), arrays of shape (..., n_pairs), to (...).
STATISTICS: dict[str, Callable[[Outcomes], NDArray[np.float64]]] = {
    "s1": lambda v: _mean(v[0]),
    "s2": lambda v: _mean(v[1]),
    "s_comp": _s_comp,
    "expected": lambda v: _mean(v[0]) * _mean(v[1]),
    "gap": lambda v: _s_comp(v) - _mean(v[0]) * _mean(v[1]),
    "q1_in_composition": lambda v: _mean(v[2]),
    "q1_distraction": lambda v: _mean(v[0]) - _mean(v[2]),
    "q2_given_q1": lambda v: _conditional(v[3], v[2]),
    "second_hop_drop": lambda v: _mean(v[1]) - _conditional(v[3], v[2]),
    "q2_miss_given_both_solvable": lambda v: 1 - _conditional(v[3], v[2] & v[1]),
}


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap confidence interval (NaN when undefined, e.g. no Q1 right)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class GapReport:
    """S1, S2, S_comp, the expected S1·S2 and the gap Δ; then the distraction analysis: Q1 accuracy inside
    the composition and its drop from S1, Q2 accuracy given Q1 was right inside the composition and its
    drop from S2, and how often Q2 is missed in composition although Q1 was right there and Q2 alone is
    solved (a pure second-hop failure)."""

    n_pairs: int
    confidence: float
    n_resamples: int
    s1: Estimate
    s2: Estimate
    s_comp: Estimate
    expected: Estimate
    gap: Estimate
    q1_in_composition: Estimate
    q1_distraction: Estimate
    q2_given_q1: Estimate
    second_hop_drop: Estimate
    q2_miss_given_both_solvable: Estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_outcomes(
    q1_alone: Sequence[bool], q2_alone: Sequence[bool], comp_q1: Sequence[bool], comp_q2: Sequence[bool]
) -> Outcomes:
    arrays = tuple(np.asarray(a, dtype=bool) for a in (q1_alone, q2_alone, comp_q1, comp_q2))
    lengths = {a.shape for a in arrays}
    if len(lengths) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        raise UserError(
            f"reasoning gap needs four equally long, non-empty lists of per-pair outcomes; got shapes {sorted(lengths)}"
        )
    return arrays  # type: ignore[return-value]


def bootstrap(outcomes: Outcomes, n_resamples: int, seed: int) -> dict[str, NDArray[np.float64]]:
    """Every statistic on `n_resamples` resamples of the pairs (drawn with replacement, seeded), computed
    in chunks so that memory stays bounded."""
    rng = np.random.default_rng(seed)
    n = outcomes[0].size
    out: dict[str, list[NDArray[np.float64]]] = {name: [] for name in STATISTICS}
    for start in range(0, n_resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, n_resamples - start), n))
        resampled: Outcomes = tuple(a[idx] for a in outcomes)  # type: ignore[assignment]
        for name, statistic in STATISTICS.items():
            out[name].append(statistic(resampled))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def _interval(samples: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def reasoning_gap(
    q1_alone: Sequence[bool],
    q2_alone: Sequence[bool],
    comp_q1: Sequence[bool],
    comp_q2: Sequence[bool],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> GapReport:
    """The reasoning gap report from per-pair outcomes: `q1_alone[i]` Q1 of pair i solved alone,
    `q2_alone[i]` Q2 (X filled in) solved alone, `comp_q1[i]`/`comp_q2[i]` Q1/Q2 answered right inside the
    composed prompt of pair i."""
    if not 0 < confidence < 1 or n_resamples < 1:
        raise UserError(f"confidence must lie in (0, 1) and n_resamples be positive; got {confidence}, {n_resamples}")
    outcomes = _as_outcomes(q1_alone, q2_alone, comp_q1, comp_q2)
    samples = bootstrap(outcomes, n_resamples, seed)
    estimates = {
        name: Estimate(float(statistic(outcomes)), *_interval(samples[name], confidence))
        for name, statistic in STATISTICS.items()
    }
    return GapReport(n_pairs=int(outcomes[0].size), confidence=confidence, n_resamples=n_resamples, **estimates)
