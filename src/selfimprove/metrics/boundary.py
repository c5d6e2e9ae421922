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
from selfimprove.metrics.intervals import Interval, mean_interval
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


def crossing(base: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    """Where two pass@k curves cross: the first k at which the leader at k = 1 no longer leads (None when
    it leads at every k), and which model leads at the smallest and the largest k."""
    ks = sorted(set(base["pass@k"]) & set(trained["pass@k"]), key=int)
    diff = [trained["pass@k"][k]["value"] - base["pass@k"][k]["value"] for k in ks]
    if not ks:
        return {"k": None, "leader_small_k": None, "leader_large_k": None}

    def leader(d: float) -> str:
        return "trained" if d > 0 else "base" if d < 0 else "tie"

    first = leader(diff[0])
    cross = next((int(k) for k, d in zip(ks, diff) if leader(d) != first), None) if first != "tie" else None
    return {"k": cross, "leader_small_k": first, "leader_large_k": leader(diff[-1])}


def solved_by_one(base: dict[str, tuple[int, int]], trained: dict[str, tuple[int, int]]) -> dict[str, list[str]]:
    """Problem ids solved at least once by only one of the models, over problems both sampled."""
    common = [pid for pid in base if pid in trained]
    return {
        "only_base": [pid for pid in common if base[pid][1] > 0 and trained[pid][1] == 0],
        "only_trained": [pid for pid in common if trained[pid][1] > 0 and base[pid][1] == 0],
    }
