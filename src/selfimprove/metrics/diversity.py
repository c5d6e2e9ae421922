"""Output diversity of a problem's N samples, reported separately for correct and incorrect samples.

Wu et al. 2024 ("Progress or Regress?") find that iterative post-training narrows what a model writes
even while pass@1 rises; they measure lexical, semantic and logical diversity of the sampled solutions.
Correct and incorrect samples are kept apart because a model that gets more problems right shifts
samples from one group to the other, which by itself would change a pooled diversity number.

- lexical: Distinct-1..4 over the group's pooled n-grams (`lexical.py`);
- semantic: 1 - mean pairwise cosine similarity of MiniLM embeddings (`semantic.py`), only when an
  `EmbeddingCache` is given;
- logical: the number of distinct equation sets in the group (`logical.py`).

A problem contributes to a group only when at least `min_group` (default 2) of its samples fall in it:
a single text has no diversity to measure, and counting it would mix accuracy into diversity. Each
number is the mean over contributing problems; `n_problems` says how many there were (values are None
when there were none). Strict verdicts (`Completion.correct`) decide the group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selfimprove.errors import UserError
from selfimprove.metrics.lexical import distinct_n
from selfimprove.metrics.logical import logical_diversity
from selfimprove.metrics.records import is_correct
from selfimprove.metrics.semantic import EmbeddingCache, semantic_diversity
from selfimprove.types import Record

GROUPS = ("correct", "incorrect")
NGRAM_ORDERS = (1, 2, 3, 4)

Groups = dict[str, list[list[str]]]


def group_texts(records: Sequence[Record], min_group: int = 2) -> Groups:
    """For each group, the sample texts of every problem with at least `min_group` samples in it."""
    groups: Groups = {g: [] for g in GROUPS}
    for record in records:
        split: dict[str, list[str]] = {g: [] for g in GROUPS}
        for i, c in enumerate(record.samples):
            ok = is_correct(c, where=f"sample {i} of problem {record.problem_id!r}")
            split["correct" if ok else "incorrect"].append(c.text)
        for g in GROUPS:
            if len(split[g]) >= min_group:
                groups[g].append(split[g])
    return groups


def embed_groups(groups: Groups, cache: EmbeddingCache) -> dict[str, list[np.ndarray]]:
    """Embeddings for every grouped text, encoded in one batch through the cache, then cut per problem."""
    flat = [t for g in GROUPS for texts in groups[g] for t in texts]
    rows = cache.embed(flat)
    out: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    start = 0
    for g in GROUPS:
        for texts in groups[g]:
            out[g].append(rows[start : start + len(texts)])
            start += len(texts)
    return out


def _mean(values: Sequence[float | int | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def group_summary(text_groups: list[list[str]], vectors: list[np.ndarray] | None) -> dict[str, float | int | None]:
    """Mean lexical, semantic and logical diversity over the problems of one group."""
    summary: dict[str, float | int | None] = {"n_problems": len(text_groups)}
    for n in NGRAM_ORDERS:
        summary[f"distinct-{n}"] = _mean([distinct_n(texts, n) for texts in text_groups])
    summary["semantic"] = _mean([semantic_diversity(v) for v in vectors]) if vectors is not None else None
    summary["logical"] = _mean([logical_diversity(texts) for texts in text_groups])
    return summary


def diversity(
    records: Sequence[Record], embeddings: EmbeddingCache | None = None, min_group: int = 2
) -> dict[str, dict[str, float | int | None]]:
    """{'correct': {...}, 'incorrect': {...}} with n_problems, distinct-1..4, semantic and logical."""
    if min_group < 2:
        raise UserError(f"diversity needs at least two texts per problem; min_group={min_group} must be >= 2")
    groups = group_texts(records, min_group)
    vectors = embed_groups(groups, embeddings) if embeddings is not None else None
    return {g: group_summary(groups[g], vectors[g] if vectors is not None else None) for g in GROUPS}
