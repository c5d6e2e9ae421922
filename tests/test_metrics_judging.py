"""Judge-vs-truth, reward-hacking and self-instruct metrics on hand-made records, checked against values
worked out by hand."""

from __future__ import annotations

import pytest

from selfimprove.judges import Judgment
from selfimprove.metrics.judging import judging_metrics, pair_metrics
from selfimprove.metrics.prompts import prompt_metrics
from selfimprove.types import Completion, Record


def c(text: str, correct: bool, *scores: float | None) -> Completion:
    return Completion(text, correct=correct, judgments=[Judgment(s, "", s is not None).to_dict() for s in scores])


RECORDS = [
    # mean scores 5, 3, 2 (one unparsed judgment), no score at all
    Record("p1", 1, "x", "q1", "1", samples=[c("aaaa", True, 5, 5), c("bb", False, 3, 3), c("c", False, 2, None),
                                             c("dddddd", True, None)]),
    # mean scores 4, 4.5 (a wrong answer scored higher), 1
    Record("p2", 1, "x", "q2", "2", samples=[c("ee", True, 4), c("ffff", False, 4, 5), c("g", True, 1)]),
]


def test_judge_vs_truth_hidden_values() -> None:
    m = judging_metrics(RECORDS, threshold=4)
    # scored (score, correct): (5,T) (3,F) (2,F) (4,T) (4.5,F) (1,T); >=4 agrees with truth for 5T 3F 2F 4T -> 4/6
    assert m["judge_accuracy"] == pytest.approx(4 / 6)
    # p1 pairs: 5>3, 5>2 -> 2 wins; p2: (4 vs 4.5) loss, (1 vs 4.5) loss -> 2/4
    assert m["pairwise_accuracy"] == pytest.approx(0.5)
    # Spearman = Pearson of ranks: scores [5,3,2,4,4.5,1] -> [6,3,2,4,5,1]; correct [1,0,0,1,0,1] -> [5,2,2,5,2,5];
    # deviations from 3.5: sum dx*dy = 1.5, sum dx^2 = 17.5, sum dy^2 = 13.5
    assert m["rank_correlation"] == pytest.approx(1.5 / (17.5 * 13.5) ** 0.5)
    # judgments: 7 + 4 = 11, 2 unparsed; parsed scores 5,5,3,3,2,4,4,5,1 -> three 5s of 9 parsed
    assert m["judgments"] == 11 and m["unparsed_share"] == pytest.approx(2 / 11)
    assert m["share_of_5"] == pytest.approx(3 / 9) and m["score_shares"]["3"] == pytest.approx(2 / 9)
    assert m["self_reward"] == pytest.approx((5 + 3 + 2 + 4 + 4.5 + 1) / 6)
    assert m["true_accuracy"] == pytest.approx(4 / 7) and m["responses_scored"] == 6
    assert m["response_length"] == pytest.approx(20 / 7)


def test_metrics_are_none_without_scores_or_truth() -> None:
    records = [Record("p", 1, "x", "q", "", samples=[Completion("a", judgments=[Judgment(None, "?", False).to_dict()])])]
    m = judging_metrics(records)
    assert m["judge_accuracy"] is None and m["pairwise_accuracy"] is None and m["rank_correlation"] is None
    assert m["share_of_5"] is None and m["unparsed_share"] == 1.0 and m["true_accuracy"] is None


def test_pairs_against_truth_hidden_values() -> None:
    rows = [
        {"chosen": "long answer", "rejected": "x", "chosen_score": 5.0, "rejected_score": 2.0,
         "chosen_correct": False, "rejected_correct": True},  # the chosen is worse
        {"chosen": [{"role": "assistant", "content": "abc"}], "rejected": "abcd", "chosen_score": 4.0,
         "rejected_score": 1.0, "chosen_correct": True, "rejected_correct": False},
        {"chosen": "ab", "rejected": "cd", "chosen_score": 3.0, "rejected_score": 0.0,
         "chosen_correct": None, "rejected_correct": None},  # no truth
    ]
    m = pair_metrics(rows)
    assert m["pairs"] == 3 and m["chosen_reward"] == pytest.approx(4.0) and m["rejected_reward"] == pytest.approx(1.0)
    assert m["chosen_accuracy"] == 0.5 and m["rejected_accuracy"] == 0.5 and m["chosen_worse_share"] == 0.5
    assert m["chosen_length"] == pytest.approx((11 + 3 + 2) / 3) and m["rejected_length"] == pytest.approx(7 / 3)


def test_prompt_metrics_hidden_values() -> None:
    seeds = ["Ann has 3 apples. She gets 2 more. How many apples does Ann have now?"]
    kept = ["ann has 3 apples.  She gets 2 more. How many apples does Ann have now?",  # a seed, respaced
            "Ben has 4 pens. He loses 1. How many pens does Ben have now?"]
    m = prompt_metrics(5, {"unparseable": 2, "duplicate": 1}, kept, seeds, earlier=[kept[1]],
                       kept_difficulty=[1, 1], seed_difficulty=[1, 2])
    assert m["validity"] == pytest.approx(3 / 5) and m["kept"] == 2
    assert m["new_vs_seed"] == 0.5 and m["new_vs_earlier"] == 0.5
    # word 4-grams: kept[0]'s 12 are all the seed's; kept[1]'s 11 are all new (its nouns differ) -> 11 / 23
    assert m["ngram_novelty"] == pytest.approx(11 / 23)
    assert m["mean_difficulty"] == 1 and m["seed_mean_difficulty"] == 1.5
    assert m["difficulty_shares"] == {"1": 1.0} and m["seed_difficulty_shares"] == {"1": 0.5, "2": 0.5}
