"""Reasoning-gap arithmetic (Hosseini et al. 2024): Δ = S_comp - S1·S2 and the distraction analysis,
checked by hand on constructed outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfimprove.compositional.gap import reasoning_gap
from selfimprove.compositional.task import CompositionalGSMTask
from selfimprove.compositional.outcomes import pair_outcomes
from selfimprove.errors import UserError
from selfimprove.types import Completion, Record

# Four pairs. Alone: Q1 right on 0,1,3; Q2 right on 0,2,3. In composition: Q1 right on 0,3; Q2 right on 0,1.
Q1_ALONE = [True, True, False, True]
Q2_ALONE = [True, False, True, True]
COMP_Q1 = [True, False, False, True]
COMP_Q2 = [True, True, False, False]


def test_hand_checked_values() -> None:
    r = reasoning_gap(Q1_ALONE, Q2_ALONE, COMP_Q1, COMP_Q2, n_resamples=200)
    assert r.n_pairs == 4
    assert r.s1.value == 0.75 and r.s2.value == 0.75
    assert r.s_comp.value == 0.25  # only pair 0 has both halves right (pair 1's Q2 is right, its Q1 wrong)
    assert r.expected.value == 0.5625
    assert r.gap.value == pytest.approx(0.25 - 0.5625)
    assert r.q1_in_composition.value == 0.5
    assert r.q1_distraction.value == 0.25
    assert r.q2_given_q1.value == 0.5  # Q1 right in composition on 0 and 3; Q2 right on 0 only
    assert r.second_hop_drop.value == 0.25
    assert r.q2_miss_given_both_solvable.value == 0.5  # pairs 0 and 3 qualify; 3 misses Q2


def test_no_gap_when_composition_is_independent() -> None:
    # 10 pairs: Q1 right on half, Q2 right on 4 of 5 within each half, and in composition exactly the
    # pairs where both alone are right; then S_comp = S1·S2 and Δ = 0.
    q1 = [True] * 5 + [False] * 5
    q2 = [True, True, True, True, False] * 2
    comp = [a and b for a, b in zip(q1, q2, strict=True)]
    r = reasoning_gap(q1, q2, q1, comp, n_resamples=100)
    assert r.s_comp.value == 0.4 == r.expected.value
    assert r.gap.value == 0


def test_intervals_bracket_estimates_and_match_normal_width() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    q1, q2, c1, c2 = (rng.random(n) < p for p in (0.8, 0.7, 0.7, 0.6))
    r = reasoning_gap(q1, q2, c1, c2, n_resamples=4000, seed=5)
    for est in (r.s1, r.s2, r.s_comp, r.gap, r.q2_given_q1):
        assert est.low <= est.value <= est.high
    s1 = r.s1.value
    normal_half_width = 1.96 * math.sqrt(s1 * (1 - s1) / n)
    assert (r.s1.high - r.s1.low) / 2 == pytest.approx(normal_half_width, rel=0.15)
    again = reasoning_gap(q1, q2, c1, c2, n_resamples=4000, seed=5)
    assert again == r


def test_degenerate_and_undefined_statistics() -> None:
    r = reasoning_gap([True] * 6, [True] * 6, [True] * 6, [True] * 6, n_resamples=50)
    assert (r.gap.value, r.gap.low, r.gap.high) == (0, 0, 0)
    none_right = reasoning_gap([True, False], [True, True], [False, False], [True, True], n_resamples=50)
    assert math.isnan(none_right.q2_given_q1.value) and math.isnan(none_right.q2_given_q1.low)


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(UserError):
        reasoning_gap([True], [True, False], [True], [True])
    with pytest.raises(UserError):
        reasoning_gap([], [], [], [])
    with pytest.raises(UserError):
        reasoning_gap([True], [True], [True], [True], confidence=1.5)


def _record(pid: str, split: str, gold: str, text: str, meta: dict | None = None) -> Record:
    return Record(pid, 0, split, "prompt", gold, meta or {}, greedy=Completion(text))


def test_pair_outcomes_join_records(tmp_path) -> None:
    task = CompositionalGSMTask(pairs_path=str(tmp_path / "unused.jsonl"))
    pairs = [
        _record("a+b", "pairs", "10", "The Q1 answer is 4. Therefore X=4. The final answer is 10.", {"q1_gold": "4"}),
        _record("c+d", "pairs", "7", "The Q1 answer is 5. Therefore X=5. The final answer is 7.", {"q1_gold": "6"}),
    ]
    singles = [
        _record("a+b/q1", "q1", "4", "The final answer is 4."),
        _record("a+b/q2", "q2", "10", "The final answer is 11."),
        _record("c+d/q1", "q1", "6", "The final answer is 6."),
        _record("c+d/q2", "q2", "7", "The final answer is 7."),
    ]
    v = pair_outcomes(task, pairs, singles[::2], singles[1::2])
    assert v.pair_ids == ["a+b", "c+d"]
    assert (v.q1_alone, v.q2_alone, v.comp_q1, v.comp_q2) == ([True, True], [False, True], [True, False], [True, True])
    assert v.gap(n_resamples=20).s_comp.value == 0.5
    with pytest.raises(UserError):
        pair_outcomes(task, pairs, singles[:1], singles[1:2])
