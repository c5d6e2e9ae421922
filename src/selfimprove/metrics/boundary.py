"""The reasoning boundary: does post-training narrow the set of problems a model can solve at all?

Yue et al. 2025 (arXiv 2504.13837, "Does Reinforcement Learning Really Incentivize Reasoning Capacity in
LLMs Beyond the Base Model?") sample many completions per problem and compare pass@k curves out to
k = 256: a trained model wins at small k while its base wins at large k when training narrowed what the
model reaches. From c correct of n samples per problem we report, for k = 1, 2, 4, ... <= n:

- pass@k, Chen et al.'s unbiased estimator 1 - C(n-c, k) / C(n, k) (passk.py), with a 95% bootstrap
  interval over problems (intervals.py);
- pass^k = C(c, k) / C(n, k), the unbiased estimate of p^k: the chance that k samples are *all* right
  (Yao et al. 2024, tau-bench), which lucky guessing at large k cannot raise;
- cover@tau: the share of problems with at least a fraction tau of their samples right (arXiv 2510.08325),
  which also ignores the rare lucky hit that pass@256 rewards.

Both models are compared on the same problems: where the curves cross, the problems only the base solves
(c > 0 for M_0, c = 0 for M_T: the narrowing) and those only the trained model solves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfimprove.errors import UserError
from selfimprove.metrics.intervals import Interval, difference_interval, mean_interval
from selfimprove.metrics.passk import pass_at_k, powers_of_two

TAUS = (0.1, 0.25, 0.5, 0.75, 0.9)
Counts = Sequence[tuple[int, int]]  # (n samples, c correct) per problem


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k for one problem: C(c, k) / C(n, k) = prod_{i=0}^{k-1} (c - i) / (n - i) (all k right)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise UserError(f"pass^{k} needs 0 <= correct <= samples and 1 <= k <= samples; got c={c}, n={n}")
    if c < k:
        return 0.0
    i = np.arange(k)
    return float(np.prod((c - i) / (n - i)))


def cover_at(counts: Counts, tau: float) -> float:
    """cover@tau: the share of problems with c / n >= tau."""
    if not 0 < tau <= 1:
        raise UserError(f"cover@tau needs 0 < tau <= 1, got {tau}")
    return float(np.mean([c >= tau * n for n, c in counts])) if counts else float("nan")


def _estimate(values: list[float], resamples: int, seed: int) -> dict[str, float | None]:
    iv: Interval | None = mean_interval(np.asarray(values), resamples, 0.95, seed)
    return {"value": float(np.mean(values)), "low": iv.low if iv else None, "high": iv.high if iv else None}


def curves(counts: Counts, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """pass@k and pass^k (each {value, low, high}) for k = 1, 2, 4, ... <= the fewest samples of any
    problem, and cover@tau for TAUS."""
    if not counts:
        raise UserError("no problems to measure: sample at least one problem")
    ks = powers_of_two(min(n for n, _ in counts))
    return {
        "n_problems": len(counts),
        "samples_per_problem": min(n for n, _ in counts),
        "pass@k": {str(k): _estimate([pass_at_k(n, c, k) for n, c in counts], resamples, seed) for k in ks},
        "pass^k": {str(k): _estimate([pass_hat_k(n, c, k) for n, c in counts], resamples, seed) for k in ks},
        "cover@tau": {str(t): cover_at(counts, t) for t in TAUS},
    }


def _leader(d: float) -> str:
    return "trained" if d > 0 else "base" if d < 0 else "tie"


def crossing(base: Counts, trained: Counts, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """How two pass@k curves over the same problems (aligned by position) compare, for k = 1, 2, 4, ...:

    - `difference` {k: {value, low, high}}: trained minus base pass@k with a paired 95% bootstrap interval
      over problems (the same resamples at every k: one seed, one problem count; intervals.py);
    - `leader_small_k` / `leader_large_k`: "trained" or "base" when the difference's interval at the
      smallest / largest k excludes 0, else "within noise";
    - `k`: the first k at which the opposite model leads (point estimates; a tie is not a crossing), None
      when it never does; `tie_from`: without a crossing, the k from which the curves are equal to the end."""
    ks = powers_of_two(min(min(n for n, _ in base), min(n for n, _ in trained)))
    difference = {}
    for k in ks:
        before = np.array([pass_at_k(n, c, k) for n, c in base])
        after = np.array([pass_at_k(n, c, k) for n, c in trained])
        iv = difference_interval(before, after, False, resamples, 0.95, seed)
        difference[str(k)] = {"value": float(after.mean() - before.mean()),
                              "low": iv.low if iv else None, "high": iv.high if iv else None}
    diffs = [difference[str(k)]["value"] for k in ks]
    first = next((_leader(d) for d in diffs if _leader(d) != "tie"), "tie")
    cross = next((k for k, d in zip(ks, diffs) if _leader(d) not in (first, "tie")), None)
    tail = next((i for i in range(len(ks)) if all(_leader(d) == "tie" for d in diffs[i:])), None)
    tie_from = ks[tail] if cross is None and tail is not None else None

    def leader(k: int) -> str:
        d = difference[str(k)]
        if d["low"] is not None and d["low"] > 0:
            return "trained"
        return "base" if d["high"] is not None and d["high"] < 0 else "within noise"

    return {"k": cross, "tie_from": tie_from, "leader_small_k": leader(ks[0]) if ks else None,
            "leader_large_k": leader(ks[-1]) if ks else None, "difference": difference}


def solved_by_one(base: dict[str, tuple[int, int]], trained: dict[str, tuple[int, int]]) -> dict[str, list[str]]:
    """Problem ids solved at least once by only one of the models, over problems both sampled."""
    common = [pid for pid in base if pid in trained]
    return {
        "only_base": [pid for pid in common if base[pid][1] > 0 and trained[pid][1] == 0],
        "only_trained": [pid for pid in common if trained[pid][1] > 0 and base[pid][1] == 0],
    }
