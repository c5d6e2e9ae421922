"""Paired intervals: coverage by simulation, McNemar by hand, and the verdict's "within noise"."""

from __future__ import annotations

import numpy as np
import pytest

from selfimprove.metrics.intervals import difference_interval, mcnemar_exact, mean_interval
from selfimprove.verdict import VerdictConfig, decide

# joint law of (right at iteration 0, right at iteration t) per problem: true change of pass@1 = -0.05
CELLS = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], dtype=float)
LAW = np.array([0.25, 0.10, 0.05, 0.60])


def test_paired_interval_covers_the_true_change_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(2024)
    hits = 0
    for rep in range(500):
        draw = CELLS[rng.choice(4, size=200, p=LAW)]
        iv = difference_interval(draw[:, 0], draw[:, 1], n_resamples=500, seed=rep)
        assert iv is not None
        hits += iv.low <= -0.05 <= iv.high
    assert 0.93 <= hits / 500 <= 0.97


def test_mean_interval_covers_a_binomial_proportion() -> None:
    rng = np.random.default_rng(7)
    hits = sum(
        (iv := mean_interval((rng.random(200) < 0.35).astype(float), n_resamples=500, seed=rep)) is not None
        and iv.low <= 0.35 <= iv.high
        for rep in range(500)
    )
    assert 0.93 <= hits / 500 <= 0.97


def test_relative_change_and_missing_values() -> None:
    before = np.array([1.0, 2.0, np.nan, 3.0])
    after = np.array([0.5, 1.0, 4.0, np.nan])
    iv = difference_interval(before, after, relative=True, n_resamples=300)
    # point estimate: mean(after over measured) / mean(before over measured) - 1 = (5/3) / 2 - 1
    assert iv is not None and iv.low <= (5 / 3) / 2 - 1 <= iv.high


def test_exact_mcnemar_by_hand() -> None:
    before = np.array([1] * 7 + [0] * 1 + [1] * 5 + [0] * 10, dtype=bool)
    after = np.array([0] * 7 + [1] * 1 + [1] * 5 + [0] * 10, dtype=bool)
    # 1 gained, 7 lost: two-sided binomial test p = 2 * (C(8,0) + C(8,1)) / 2^8
    assert mcnemar_exact(before, after) == pytest.approx(2 * 9 / 256)
    assert mcnemar_exact(before, before) == 1.0


def _metrics(greedy: list[int]) -> dict:
    n = len(greedy)
    return {"test": {"n_problems": n, "greedy_pass@1": float(np.mean(greedy)),
                     "per_problem": {"problem_id": [f"p{i}" for i in range(n)], "greedy": greedy,
                                     "difficulty": [1 + i % 3 for i in range(n)], "samples": [0] * n,
                                     "correct_samples": [0] * n}}}


def test_verdict_says_within_noise_for_a_drop_inside_its_interval() -> None:
    # 200 problems: 11 lost, 4 gained, pass@1 falls 3.5 points (past the 1-point threshold) but the
    # paired interval reaches zero
    rng = np.random.default_rng(0)
    base = (rng.random(200) < 0.35).astype(int)
    after = base.copy()
    ones, zeros = np.flatnonzero(base == 1), np.flatnonzero(base == 0)
    after[ones[:11]] = 0
    after[zeros[:4]] = 1
    change = (after.mean() - base.mean())
    assert change <= -0.03
    verdict = decide([_metrics(base.tolist()), _metrics(after.tolist())], VerdictConfig())
    pass1 = verdict.signals[0]
    assert pass1.low is not None and pass1.high is not None and pass1.low < 0 <= pass1.high
    assert verdict.label != "regress" and "within noise" in pass1.sentence and "interval" in pass1.sentence
    assert pass1.p_value is not None and pass1.p_value > 0.05


def test_verdict_fires_when_the_interval_excludes_no_change() -> None:
    base = [1] * 100 + [0] * 100
    after = [1] * 60 + [0] * 140  # 40 lost, none gained
    verdict = decide([_metrics(base), _metrics(after)], VerdictConfig())
    pass1 = verdict.signals[0]
    assert verdict.label == "regress" and pass1.high is not None and pass1.high < 0
    assert "exact McNemar p = " in pass1.sentence


def test_reversal_with_per_problem_values_fires_only_outside_the_interval() -> None:
    """pass@1 +20 points on 200 problems, OOD pass@1 -30 points on 200 OOD problems: both changes lie far
    outside their paired intervals, so the verdict is a reversal (not "within noise")."""
    def run(test: list[int], ood: list[int]) -> dict:
        return {**_metrics(test), "ood": _metrics(ood)["test"]}

    before = run([1] * 100 + [0] * 100, [1] * 120 + [0] * 80)
    after = run([1] * 140 + [0] * 60, [1] * 60 + [0] * 140)
    verdict = decide([before, after], VerdictConfig())
    assert verdict.label == "reversal" and verdict.fired() == ["id_pass@1_gain", "ood_pass@1_drop"]
    gain, ood = verdict.signals[0], next(s for s in verdict.signals if s.name == "ood_pass@1_drop")
    assert gain.change == pytest.approx(0.2) and gain.low is not None and gain.low > 0.1
    assert ood.change == pytest.approx(-0.3) and ood.high is not None and ood.high < -0.2
    assert not ood.noise and "within noise" not in ood.sentence and "generalizes worse" in ood.sentence
