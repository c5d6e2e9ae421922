"""summarize(), the improvement set and the generalization metrics on hand-built Records."""

from __future__ import annotations

import json

import pytest

from selfimprove.errors import UserError
from selfimprove.metrics.generalization import difficulty_of, disparity, ood_gap, pass1_by_difficulty
from selfimprove.metrics.improvement import improvement_set
from selfimprove.metrics.summary import summarize, summarize_splits
from selfimprove.types import Completion, Record


def c(answer: str | None, ok: bool, flex_answer: str | None = None, flex_ok: bool | None = None) -> Completion:
    """A graded completion; the flexible twin defaults to the strict one."""
    return Completion(
        text=f"some work. The answer is {answer}." if answer is not None else "no final answer",
        answer=answer,
        correct=ok,
        answer_flexible=flex_answer if flex_answer is not None else answer,
        correct_flexible=ok if flex_ok is None else flex_ok,
    )


def rec(
    pid: str, greedy: Completion | None, samples: list[Completion], difficulty: int | None, split: str = "test"
) -> Record:
    meta = {} if difficulty is None else {"difficulty": difficulty}
    return Record(pid, 1, split, f"Q {pid}", "gold", meta, greedy, samples)


def hand_records() -> list[Record]:
    a = rec("A", c("14", True), [c("14", True), c("14", True), c("3", False), c(None, False, "14", True)], 1)
    b = rec("B", c("5", False, "7", True), [c("5", False), c("6", False), c("6", False), c("7", False)], 3)
    cc = rec("C", c("9", True), [c("9", True), c("8", False), c("9", True), c("8", False)], 3)
    d = rec("D", None, [c("2", True) for _ in range(4)], 1)
    return [a, b, cc, d]


def test_summarize_hand_checked_values() -> None:
    s = summarize(hand_records())
    assert s["n_problems"] == 4 and s["n_greedy"] == 3 and s["samples_per_problem"] == 4
    assert s["greedy_pass@1"] == pytest.approx(2 / 3)
    assert s["greedy_pass@1_flexible"] == pytest.approx(1.0)
    # per problem c/n: A 2/4, B 0, C 2/4, D 4/4; pass@2 of c=2,n=4 is 1 - C(2,2)/C(4,2) = 5/6
    assert s["pass@k"] == pytest.approx({"1": 0.5, "2": (5 / 6 + 0 + 5 / 6 + 1) / 4, "4": 0.75})
    assert s["pass@k_flexible"]["1"] == pytest.approx((0.75 + 0 + 0.5 + 1) / 4)
    # maj@2 blocks: A (14,14)->ok (3,None)->3 wrong; B (5,6) tie->5 wrong, (6,7)->6 wrong; C (9,8)->9 ok twice; D ok
    assert s["maj@k"] == pytest.approx({"1": 0.5, "2": (0.5 + 0 + 1 + 1) / 4, "4": 0.75})
    assert s["maj@k_flexible"]["4"] == pytest.approx(0.75)
    assert s["sampled_accuracy"] == pytest.approx(0.5)
    assert s["coverage@N"] == pytest.approx(0.75)
    assert s["per_difficulty"] == {
        "1": {"n": 1, "pass@1": 1.0, "pass@1_flexible": 1.0},  # D has no greedy completion
        "3": {"n": 2, "pass@1": 0.5, "pass@1_flexible": 1.0},
    }
    assert s["disparity"] == pytest.approx(0.5)
    assert s["diversity"]["correct"]["n_problems"] == 3  # A (2 correct), C (2), D (4)
    assert s["diversity"]["incorrect"]["n_problems"] == 3  # A (2 wrong), B (4), C (2)
    assert s["diversity"]["correct"]["semantic"] is None
    json.dumps(s)  # goes straight into metrics.json


def test_summarize_without_samples_or_records() -> None:
    only_greedy = [rec("A", c("1", True), [], 2), rec("B", c("1", False), [], 2)]
    s = summarize(only_greedy)
    assert s["greedy_pass@1"] == 0.5 and s["pass@k"] == {} and s["coverage@N"] is None
    assert s["disparity"] is None  # one level only
    empty = summarize([])
    assert empty["n_problems"] == 0 and empty["greedy_pass@1"] is None and empty["sampled_accuracy"] is None


def test_ungraded_greedy_is_refused() -> None:
    with pytest.raises(UserError, match="greedy completion of problem 'A'"):
        summarize([rec("A", Completion(text="7"), [], 1)])


def test_disparity_definition() -> None:
    assert disparity({"1": {"pass@1": 0.8}, "2": {"pass@1": 0.6}, "10": {"pass@1": 0.2}}) == pytest.approx(0.75)
    assert disparity({"1": {"pass@1": 0.0}, "3": {"pass@1": 0.5}}) is None  # nothing to lose a share of
    assert disparity({"1": {"pass@1": 0.5}, "3": {"pass@1": 0.75}}) == pytest.approx(-0.5)
    assert disparity({"2": {"pass@1": 0.5}}) is None
    assert ood_gap(0.7, 0.4) == pytest.approx(0.3) and ood_gap(0.7, None) is None


def test_difficulty_must_be_an_integer_level() -> None:
    assert difficulty_of(rec("A", None, [], None)) is None
    assert difficulty_of(Record("A", 0, "test", "Q", "1", {"difficulty": "3"})) == 3
    with pytest.raises(UserError, match="integer level"):
        difficulty_of(Record("A", 0, "test", "Q", "1", {"difficulty": "Level 3"}))
    assert pass1_by_difficulty([rec("A", c("1", True), [], None)]) == {}


def test_improvement_set_and_m1_pass_at_k() -> None:
    wrong, right = c("0", False), c("1", True)
    first = [
        rec("p1", wrong, [right, wrong, wrong, wrong], 1),
        rec("p2", wrong, [wrong] * 4, 1),
        rec("p3", right, [right] * 4, 1),
        rec("p4", wrong, [wrong] * 4, 1),
    ]
    later = [rec("p1", right, [], 1), rec("p2", right, [], 1), rec("p3", right, [], 1), rec("p4", wrong, [], 1)]
    later.append(rec("p5", right, [], 1))  # not evaluated at M_1: ignored
    out = improvement_set(later, first)
    assert out["problem_ids"] == ["p1", "p2"]
    assert out["size"] == 2 and out["n_compared"] == 4 and out["fraction"] == 0.5 and out["m1_samples"] == 4
    # p1: c=1 of 4 -> pass@2 = 1 - C(3,2)/C(4,2) = 1/2, pass@3 = 1 - 1/4, pass@4 = 1; p2: all 0
    assert out["m1_pass@k"] == pytest.approx({"2": 0.25, "3": 0.375, "4": 0.5})
    none = improvement_set(first, first)
    assert none["size"] == 0 and none["m1_pass@k"] == {}


def test_summarize_splits_reports_the_ood_gap() -> None:
    records = [
        rec("t1", c("1", True), [], 1, "test"),
        rec("t2", c("1", True), [], 2, "test"),
        rec("o1", c("1", True), [], 4, "ood"),
        rec("o2", c("0", False), [], 5, "ood"),
    ]
    out = summarize_splits(records)
    assert set(out) == {"test", "ood", "generalization"}
    assert out["generalization"] == pytest.approx({"id_pass@1": 1.0, "ood_pass@1": 0.5, "ood_gap": 0.5})
    assert out["ood"]["disparity"] == pytest.approx(1.0)


def test_every_metric_of_the_table_is_in_a_split_summary() -> None:
    """metrics/table.py names keys summarize() really writes, with the value the tables print."""
    from selfimprove.metrics.table import CONSOLE, METRICS

    m = summarize(hand_records())
    assert all((metric.path or (key,))[0] in m for key, metric in METRICS.items()) and set(CONSOLE) <= set(METRICS)
    assert METRICS["greedy_pass@1"].value(m) == m["greedy_pass@1"] and METRICS["greedy_pass@1"].show(2 / 3) == "66.7"
    assert METRICS["pass@k"].value(m) == m["pass@k"]["4"]  # the largest k
    assert METRICS["disparity"].worse(0.1) > 0 > METRICS["greedy_pass@1"].worse(0.1)  # lower is better for disparity
