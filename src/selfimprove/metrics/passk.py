"""pass@k and maj@k over one problem's N samples.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1): the probability
that at least one of k samples drawn without replacement from the n generated ones is correct. With c
correct samples the unbiased estimator is

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

and the product form (their numpy listing) avoids the huge binomials of the ratio form.

maj@k (self-consistency, Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning"):
the answer most often extracted from k samples is the model's answer; maj@k is the chance that it is
correct. Our rules:
- answers are compared as strings after stripping whitespace (extraction already normalizes them);
- a sample whose answer is None (nothing extractable) abstains; if all k abstain the vote is wrong;
- a tie goes to the tied answer that appeared first in sample order (deterministic, order-neutral for
  i.i.d. samples);
- for k < n the n samples are cut into floor(n / k) disjoint consecutive blocks of k and maj@k is the
  mean over blocks. Each block is an i.i.d. draw of k samples, so every block, and hence their mean,
  is an unbiased estimate of the expected maj@k; using all blocks instead of only the first k samples
  lowers the variance at no extra cost (samples left over after the last full block are unused).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from selfimprove.errors import UserError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `c` correct out of `n` samples (Chen et al. 2021, eq. 1)."""
    if not 0 <= c <= n:
        raise UserError(f"pass@k needs 0 <= correct <= samples, got correct={c}, samples={n}")
    if not 1 <= k <= n:
        raise UserError(f"pass@{k} needs 1 <= k <= n = {n} samples; sample more or choose a smaller k")
    if n - c < k:
        return 1.0  # every k-subset contains a correct sample
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def powers_of_two(n: int) -> list[int]:
    """The k values reported for pass@k and maj@k: 1, 2, 4, ... up to n."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def majority_index(answers: Sequence[str | None]) -> int | None:
    """Index of the first sample carrying the majority answer; None when every sample abstains."""
    keys = [a.strip() if a is not None else None for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == top)


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool], k: int) -> float:
    """maj@k for one problem: mean correctness of the majority vote over disjoint blocks of k samples."""
    n = len(answers)
    if len(correct) != n:
        raise UserError(f"maj@k got {n} answers but {len(correct)} grades; they must pair up")
    if not 1 <= k <= n:
        raise UserError(f"maj@{k} needs 1 <= k <= n = {n} samples; sample more or choose a smaller k")
    hits = []
    for start in range(0, n - k + 1, k):
        winner = majority_index(answers[start : start + k])
        hits.append(winner is not None and bool(correct[start + winner]))
    return float(np.mean(hits))
