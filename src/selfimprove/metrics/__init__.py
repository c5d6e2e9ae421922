"""Diagnostics computed from records: is a self-improvement gain real progress?

Self-improvement reversal (Wu et al. 2024, "Progress or Regress? Self-Improvement Reversal in
Post-training"): modules, one measurement each, all pure functions over grades, texts or Records.

- passk.py           pass@k (Chen et al. 2021) and maj@k (Wang et al. 2022) for one problem
- coverage.py        sampled accuracy and coverage@N (the two readings of "correct answer coverage")
- lexical.py         Distinct-n (Li et al. 2016)
- semantic.py        1 - mean pairwise cosine of MiniLM embeddings, with an on-disk EmbeddingCache
- logical.py         distinct equation sets among solutions
- diversity.py       the three diversities per problem, correct and incorrect samples apart
- generalization.py  pass@1 per difficulty, easy-hard disparity, ID-OOD gap
- improvement.py     the improvement set IS(t) and M_1's pass@k on it ("capability illusion")
- summary.py         `summarize(records)`: one split's metrics.json entry
- steps.py           false-positive rate and CoT-pass@k from step checks (right answer, wrong reasoning)
- intervals.py       paired bootstrap intervals and the exact McNemar test
- paired.py          the intervals of the changes the verdict judges, from per-problem values
- boundary.py        pass@k out to large k, pass^k and cover@tau (the reasoning boundary)

The run-level judgement built on these lives in `selfimprove.verdict`.
"""

from selfimprove.metrics.improvement import improvement_set
from selfimprove.metrics.semantic import EmbeddingCache
from selfimprove.metrics.summary import summarize

__all__ = ["EmbeddingCache", "improvement_set", "summarize"]
