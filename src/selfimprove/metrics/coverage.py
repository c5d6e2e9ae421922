"""Sampled accuracy and coverage@N: two readings of "correct answer coverage".

Wu et al. 2024 ("Progress or Regress? Self-Improvement Reversal in Post-training") argue that a rise in
greedy pass@1 is only progress if the set of problems the model *can* solve grows too, and speak of the
"coverage" of correct answers among sampled solutions. That wording fits two different quantities, so
we report both, under names that say which is which:

- sampled accuracy = mean over problems of (correct samples / N). It is the unbiased pass@1 of the
  sampling distribution (Chen et al. 2021 with k = 1). It rises when the model merely concentrates
  probability on answers it could already find, so on its own it cannot tell selection from ability.
- coverage@N = fraction of problems with at least one correct sample among N (= pass@N). It only rises
  when the model reaches problems it could not reach before; this is the quantity the reversal
  diagnosis (and `selfimprove.verdict`) relies on: pass@1 up with coverage@N flat means the gain is
  selection among answers the model already had, not new ability.

Both take one list of per-sample grades per problem; problems with no samples are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sampled_accuracy(grades: Sequence[Sequence[bool]]) -> float | None:
    """Mean over problems of the fraction of correct samples; None when no problem has samples."""
    rates = [float(np.mean(v)) for v in grades if len(v) > 0]
    return float(np.mean(rates)) if rates else None


def coverage(grades: Sequence[Sequence[bool]]) -> float | None:
    """coverage@N: fraction of problems with at least one correct sample; None when none has samples."""
    hits = [any(v) for v in grades if len(v) > 0]
    return float(np.mean(hits)) if hits else None
