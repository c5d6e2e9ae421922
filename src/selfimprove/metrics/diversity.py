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
when there were none). Strict grades (`Completion.correct`) decide the group.
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
KEYS = (*(f"distinct-{n}" for n in NGRAM_ORDERS), "semantic", "logical")

Groups = dict[str, list[tuple[int, list[str]]]]  # group -> (index of the record, its texts in the group)
Values = dict[str, dict[str, list[float | None]]]  # group -> measure -> one value per record (None: not in group)


def group_texts(records: Sequence[Record], min_group: int = 2) -> Groups:
    """For each group, (record index, sample texts) of every problem with at least `min_group` samples in it."""
    groups: Groups = {g: [] for g in GROUPS}
    for index, record in enumerate(records):
        split: dict[str, list[str]] = {g: [] for g in GROUPS}
        for i, c in enumerate(record.samples):
            ok = is_correct(c, where=f"sample {i} of problem {record.problem_id!r}")
            split["correct" if ok else "incorrect"].append(c.text)
        for g in GROUPS:
            if len(split[g]) >= min_group:
                groups[g].append((index, split[g]))
    return groups


def embed_groups(groups: Groups, cache: EmbeddingCache) -> dict[str, list[np.ndarray]]:
    """Embeddings for every grouped text, encoded in one batch through the cache, then cut per problem."""
    flat = [t for g in GROUPS for _, texts in groups[g] for t in texts]
    rows = cache.embed(flat)
    out: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    start = 0
    for g in GROUPS:
        for _, texts in groups[g]:
            out[g].append(rows[start : start + len(texts)])
            start += len(texts)
    return out


def _mean(values: Sequence[float | int | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def problem_values(records: Sequence[Record], embeddings: EmbeddingCache | None = None, min_group: int = 2) -> Values:
    """Each diversity measure of each problem, per group, aligned with `records` (None where the problem has
    fewer than `min_group` samples in the group, and for semantic diversity without an `EmbeddingCache`).
    The verdict's paired intervals resample these per-problem values."""
    if min_group < 2:
        raise UserError(f"diversity needs at least two texts per problem; min_group={min_group} must be >= 2")
    groups = group_texts(records, min_group)
    vectors = embed_groups(groups, embeddings) if embeddings is not None else None
    out: Values = {g: {key: [None] * len(records) for key in KEYS} for g in GROUPS}
    for g in GROUPS:
        for j, (index, texts) in enumerate(groups[g]):
            for n in NGRAM_ORDERS:
                out[g][f"distinct-{n}"][index] = distinct_n(texts, n)
            out[g]["semantic"][index] = semantic_diversity(vectors[g][j]) if vectors is not None else None
            out[g]["logical"][index] = logical_diversity(texts)
    return out


def summarize_values(values: Values) -> dict[str, dict[str, float | int | None]]:
    """{'correct': {...}, 'incorrect': {...}}: how many problems are in each group and each measure's mean."""
    return {
        g: {"n_problems": sum(v is not None for v in values[g]["logical"]),
            **{key: _mean(values[g][key]) for key in KEYS}}
        for g in GROUPS
    }


def diversity(
    records: Sequence[Record], embeddings: EmbeddingCache | None = None, min_group: int = 2
) -> dict[str, dict[str, float | int | None]]:
    """{'correct': {...}, 'incorrect': {...}} with n_problems, distinct-1..4, semantic and logical."""
    return summarize_values(problem_values(records, embeddings, min_group))
