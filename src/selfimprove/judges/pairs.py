"""Preference pairs from a judge's scores (Yuan et al. 2024, Sec. 2.3): for each prompt, the highest- against
the lowest-scored response; a prompt whose responses all score the same gives no pair.

Length control (`epsilon` > 0; the length-controlled selection of Wu et al. 2024, "Meta-Rewarding Language
Models", Sec. 3.3): the chosen response is the shortest of those scoring within epsilon of the best, the
rejected one the longest of those within epsilon of the worst, so that a judge's taste for length is not
passed on; the pair is dropped when those two are scored the same. A response none of whose judgments parsed
has no score and is never paired. Each row keeps both scores and, where known, both grades, so the
pairs can be checked against ground truth (selfimprove.metrics.judging.pair_metrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from selfimprove.curate import as_completion
from selfimprove.judges import mean_score
from selfimprove.types import Completion, Record


def pick_pair(samples: Sequence[Completion], epsilon: float = 0.0) -> tuple[Completion, Completion] | None:
    """(chosen, rejected) among the scored samples, or None when there is no score gap."""
    scored = [(s, c) for c in samples if (s := mean_score(c.judgments)) is not None]
    if len(scored) < 2:
        return None
    best, worst = max(s for s, _ in scored), min(s for s, _ in scored)
    if best == worst:
        return None
    top = [(s, c) for s, c in scored if s >= best - epsilon]
    bottom = [(s, c) for s, c in scored if s <= worst + epsilon]
    # min/max keep the first on equal keys, so the choice is deterministic in sample order
    chosen = min(top, key=lambda sc: (len(sc[1].text), -sc[0])) if epsilon > 0 else max(top, key=lambda sc: sc[0])
    rejected = max(bottom, key=lambda sc: (len(sc[1].text), -sc[0])) if epsilon > 0 else min(bottom, key=lambda sc: sc[0])
    if chosen[0] <= rejected[0]:
        return None
    return chosen[1], rejected[1]


def judged_pairs(records: Sequence[Record], epsilon: float = 0.0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """DPO rows (prompt, chosen, rejected + scores, grades, lengths) and counts of prompts paired, tied
    (no score gap) and unscored (fewer than two responses with a score)."""
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for record in records:
        if sum(mean_score(c.judgments) is not None for c in record.samples) < 2:
            counts["unscored"] += 1
            continue
        pair = pick_pair(record.samples, epsilon)
        if pair is None:
            counts["tied"] += 1
            continue
        chosen, rejected = pair
        counts["paired"] += 1
        rows.append({
            "prompt": record.prompt,
            "chosen": as_completion(record.prompt, chosen.text),
            "rejected": as_completion(record.prompt, rejected.text),
            "problem_id": record.problem_id,
            "source": "self-reward",
            "chosen_score": mean_score(chosen.judgments),
            "rejected_score": mean_score(rejected.judgments),
            "chosen_correct": chosen.correct,
            "rejected_correct": rejected.correct,
        })
    return rows, {k: counts[k] for k in ("paired", "tied", "unscored")}
