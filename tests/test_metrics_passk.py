"""pass@k, maj@k, sampled accuracy and coverage@N against brute force and hand-worked cases."""

from __future__ import annotations

from itertools import combinations, permutations

import pytest

from selfimprove.errors import UserError
from selfimprove.metrics.coverage import coverage, sampled_accuracy
from selfimprove.metrics.passk import maj_at_k, majority_index, pass_at_k, powers_of_two


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (the first c correct) holding at least one correct sample."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_enumeration_over_all_subsets(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_hand_values_and_large_n_is_stable() -> None:
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0
    # the ratio form would need C(1000, 500) (~1e299); the product form stays finite and exact enough
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_inputs(n: int, c: int, k: int) -> None:
    with pytest.raises(UserError):
        pass_at_k(n, c, k)


def test_powers_of_two() -> None:
    assert powers_of_two(16) == [1, 2, 4, 8, 16]
    assert powers_of_two(10) == [1, 2, 4, 8]
    assert powers_of_two(1) == [1]
    assert powers_of_two(0) == []


def test_majority_ties_go_to_first_seen_and_none_abstains() -> None:
    assert majority_index(["3", "5", "5", "3"]) == 0  # 2-2 tie: "3" came first
    assert majority_index(["3", "5", "5"]) == 1
    assert majority_index([None, None, "7"]) == 2  # None does not vote
    assert majority_index([None, "4", None, None]) == 1
    assert majority_index([None, None]) is None
    assert majority_index([" 5", "5 ", "3"]) == 0  # compared after stripping whitespace


def test_maj_at_k_on_constructed_cases() -> None:
    answers = ["1", "2", "2", None]
    correct = [False, True, True, False]
    assert maj_at_k(answers, correct, 4) == 1.0  # "2" wins 2-1
    # blocks ("1","2") -> tie to "1", wrong; ("2", None) -> "2", right
    assert maj_at_k(answers, correct, 2) == 0.5
    # k=1: each sample alone; the None sample abstains and counts as wrong
    assert maj_at_k(answers, correct, 1) == 0.5
    assert maj_at_k([None, None], [False, False], 2) == 0.0
    # n=5, k=2: two blocks, the fifth sample is unused
    assert maj_at_k(["9", "9", "1", "1", "9"], [True, True, False, False, True], 2) == 0.5


def test_maj_at_k_blocks_are_unbiased_over_sample_orders() -> None:
    """Averaged over every order of a fixed pool, the block estimate equals the mean vote over all ordered
    k-draws without replacement: the blocks of i.i.d. samples do not bias maj@k."""
    answers = ["a", "b", "b", "c", None]
    correct = [True, False, False, False, False]
    k = 2
    orders = list(permutations(range(5)))
    block_mean = sum(maj_at_k([answers[i] for i in o], [correct[i] for i in o], k) for o in orders) / len(orders)
    draws = list(permutations(range(5), k))
    direct = sum(maj_at_k([answers[i] for i in d], [correct[i] for i in d], k) for d in draws) / len(draws)
    assert block_mean == pytest.approx(direct)


def test_maj_at_k_rejects_mismatched_or_out_of_range() -> None:
    with pytest.raises(UserError):
        maj_at_k(["1", "2"], [True], 1)
    with pytest.raises(UserError):
        maj_at_k(["1", "2"], [True, False], 3)


def test_sampled_accuracy_and_coverage_differ_as_documented() -> None:
    grades = [[True, False, False, False], [False, False], []]
    assert sampled_accuracy(grades) == pytest.approx((0.25 + 0.0) / 2)  # the empty problem is not counted
    assert coverage(grades) == pytest.approx(0.5)
    assert sampled_accuracy([]) is None and coverage([[]]) is None
