"""Is the judge right, and is it being gamed? The judge's scores against ground truth, per iteration.

Self-rewarding training (Yuan et al. 2024) trains on pairs that the model's own judge picked; the reward
alone cannot tell improvement from a model that learned to please itself (Denison et al. 2024 on reward
tampering; "training reward saturated at 1.0 while independently measured task accuracy collapsed",
TRL PR #5790). Where every judged response also has a grade against the gold answer, these pure
functions measure:

- judge vs truth: accuracy of "score >= threshold" as a prediction of correct; pairwise accuracy (within a
  prompt, does the judge score the correct of a correct/incorrect pair higher; Yuan et al. 2024, Sec. 3.2
  report pairwise accuracy against human rankings); Spearman's rank correlation of scores and correctness;
  the score distribution (share of 5s: a judge that gives everything full marks has collapsed) and the share
  of judgments it could not parse;
- reward hacking signs on the DPO pairs: the mean self-reward of the chosen responses next to their true
  accuracy, chosen vs rejected length (length bias; the paper's responses grew from 1,092 to 2,552
  characters), and the share of pairs whose chosen response is actually worse (chosen wrong, rejected right).

A response's score is the mean of its parsed judgments (selfimprove.judges.mean_score); a response none of
whose judgments parsed has no score and is left out of the score-based metrics. Lengths are in characters,
as in the paper. Every metric is None when nothing it needs is there, never 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from statistics import fmean
from typing import Any

from scipy.stats import spearmanr

from selfimprove.judges import mean_score
from selfimprove.types import Completion, Record

MAX_SCORE = 5


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def text_of(completion: str | list[dict[str, str]]) -> str:
    """A training row's completion as text (a chat completion is one assistant message)."""
    return completion if isinstance(completion, str) else "".join(m["content"] for m in completion)


def has_truth(c: Completion) -> bool:
    return c.correct is not None


def scored(records: Sequence[Record]) -> list[list[tuple[float, bool]]]:
    """Per record, (score, correct) of each response with a score and a grade."""
    out = []
    for record in records:
        pairs = [(mean_score(c.judgments), bool(c.correct)) for c in record.samples if has_truth(c)]
        out.append([(s, ok) for s, ok in pairs if s is not None])
    return out


def judge_accuracy(records: Sequence[Record], threshold: float = 4.0) -> float | None:
    """Share of scored responses where `score >= threshold` agrees with the gold grade."""
    flat = [s for per in scored(records) for s in per]
    return _mean([float((score >= threshold) == ok) for score, ok in flat])


def pairwise_accuracy(records: Sequence[Record]) -> float | None:
    """Over every (correct, incorrect) pair of scored responses to the same prompt: 1 when the judge scores
    the correct one higher, 1/2 on a tie (the judge could not tell them apart), 0 otherwise."""
    wins: list[float] = []
    for per in scored(records):
        for (a, a_ok), (b, b_ok) in itertools.combinations(per, 2):
            if a_ok == b_ok:
                continue
            good, bad = (a, b) if a_ok else (b, a)
            wins.append(1.0 if good > bad else 0.5 if good == bad else 0.0)
    return _mean(wins)


def rank_correlation(records: Sequence[Record]) -> float | None:
    """Spearman's rho between the judge's scores and correctness (1/0) over all scored responses; None when
    either side is constant (the correlation is undefined)."""
    flat = [s for per in scored(records) for s in per]
    if len({s for s, _ in flat}) < 2 or len({ok for _, ok in flat}) < 2:
        return None
    return float(spearmanr([s for s, _ in flat], [float(ok) for _, ok in flat]).statistic)


def score_distribution(records: Sequence[Record]) -> dict[str, Any]:
    """Over every single judgment: how many there were, the share unparsed, and among the parsed ones the
    share of each whole score 0..5 and the share of full marks (share_of_5)."""
    judgments = [j for r in records for c in r.samples for j in c.judgments]
    parsed = [float(j["score"]) for j in judgments if j.get("parsed") and j.get("score") is not None]
    shares = {str(k): sum(round(s) == k for s in parsed) / len(parsed) for k in range(MAX_SCORE + 1)} if parsed else {}
    return {
        "judgments": len(judgments),
        "unparsed_share": (len(judgments) - len(parsed)) / len(judgments) if judgments else None,
        "share_of_5": shares.get(str(MAX_SCORE)),
        "score_shares": shares,
        "mean_score": _mean(parsed),
    }


def pair_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The DPO pairs the judge picked (rows with chosen/rejected, their scores and, where known, their
    grades `chosen_correct`/`rejected_correct`): reward of the chosen, their true accuracy, lengths, and
    the share of pairs where the chosen response is worse than the rejected one."""
    known = [r for r in rows if r.get("chosen_correct") is not None and r.get("rejected_correct") is not None]
    return {
        "pairs": len(rows),
        "chosen_reward": _mean([r["chosen_score"] for r in rows]),
        "rejected_reward": _mean([r["rejected_score"] for r in rows]),
        "chosen_accuracy": _mean([float(r["chosen_correct"]) for r in known]),
        "rejected_accuracy": _mean([float(r["rejected_correct"]) for r in known]),
        "chosen_worse_share": _mean([float(not r["chosen_correct"] and r["rejected_correct"]) for r in known]),
        "chosen_length": _mean([float(len(text_of(r["chosen"]))) for r in rows]),
        "rejected_length": _mean([float(len(text_of(r["rejected"]))) for r in rows]),
    }


def judging_metrics(records: Sequence[Record], threshold: float = 4.0) -> dict[str, Any]:
    """Judge-vs-truth metrics of judged records, with the mean self-reward and true accuracy of all responses."""
    flat = [s for per in scored(records) for s in per]
    responses = [c for r in records for c in r.samples]
    return {
        "responses": len(responses),
        "responses_scored": sum(mean_score(c.judgments) is not None for c in responses),
        "self_reward": _mean([s for c in responses if (s := mean_score(c.judgments)) is not None]),
        "true_accuracy": _mean([float(bool(c.correct)) for c in responses if has_truth(c)]),
        "response_length": _mean([float(len(c.text)) for c in responses]),
        "judge_accuracy": judge_accuracy(records, threshold),
        "judge_threshold": threshold,
        "pairwise_accuracy": pairwise_accuracy(records),
        "rank_correlation": rank_correlation(records),
        "truth_scored": len(flat),
        **score_distribution(records),
    }
