"""Statistics of generated corpora against the real one: the symptoms of model collapse.

Shumailov et al. (Nature 2024) describe early collapse as the loss of the distribution's tails (rare
events vanish first) and late collapse as convergence to a narrow, low-variance distribution. These
functions measure both on token ids:

* `tail_loss`: the fraction of blocks whose perplexity under a later generation exceeds the 95th
  percentile of perplexity under generation 0 (by construction about 5% for generation 0 itself);
  real blocks that a later model finds improbable are the tails it has forgotten.
* `corpus_stats`: distinct tokens and distinct n-grams of a generated corpus relative to the real one,
  and how often the real corpus's rarest tokens (bottom decile by frequency) still occur.
* `perplexity_histogram`: per-block perplexity histograms on bins shared across generations (paper,
  Fig. 1 right, plots the perplexity of each generation's generated blocks under the generation-0
  model; the same function also histograms real test blocks under each generation's model).
N-grams are counted inside blocks, never across a block boundary (blocks are independent samples).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from selfimprove.errors import UserError

Blocks = Sequence[Sequence[int]]


def tail_loss(
    reference: Sequence[float] | np.ndarray, perplexities: Sequence[float] | np.ndarray, quantile: float = 95.0
) -> float:
    """Fraction of `perplexities` above the `quantile`-th percentile of `reference` (generation 0's
    per-block perplexities on the same real blocks)."""
    ref, ppl = np.asarray(reference, dtype=np.float64), np.asarray(perplexities, dtype=np.float64)
    if ref.size == 0 or ppl.size == 0:
        raise UserError("tail_loss needs non-empty reference and perplexity arrays")
    if not 0.0 < quantile < 100.0:
        raise UserError(f"quantile must be in (0, 100), got {quantile}")
    return float(np.mean(ppl > np.percentile(ref, quantile)))


def ngram_counts(blocks: Blocks, n: int) -> Counter[tuple[int, ...]]:
    """Counts of the n-grams inside each block (never spanning two blocks)."""
    if n < 1:
        raise UserError(f"n-gram order must be >= 1, got {n}")
    counts: Counter[tuple[int, ...]] = Counter()
    for block in blocks:
        ids = list(block)
        counts.update(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
    return counts


def rarest_tokens(real_blocks: Blocks, fraction: float = 0.1) -> set[int]:
    """The real corpus's rarest tokens: the ceil(fraction * V) least frequent of its V distinct tokens,
    ties broken by token id so the set is deterministic."""
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"rare-token fraction must be in (0, 1], got {fraction}")
    counts = Counter(t for block in real_blocks for t in block)
    if not counts:
        raise UserError("the real corpus is empty")
    ranked = sorted(counts, key=lambda t: (counts[t], t))
    return set(ranked[: math.ceil(fraction * len(ranked))])


def token_rate(blocks: Blocks, tokens: Iterable[int]) -> float:
    """Occurrences of `tokens` in `blocks` per token of `blocks` (0 for an empty corpus)."""
    wanted = set(tokens)
    total = sum(len(b) for b in blocks)
    return sum(1 for b in blocks for t in b if t in wanted) / total if total else 0.0


@dataclass(frozen=True)
class CorpusStats:
    """A generated corpus against the real one. Ratios are generated / real."""

    distinct_tokens: int
    distinct_tokens_real: int
    distinct_token_ratio: float
    distinct_ngram_ratio: dict[int, float]  # n -> distinct n-grams generated / distinct n-grams real
    rare_tokens: int  # size of the real corpus's bottom-decile token set
    rare_rate_real: float  # occurrences of those tokens per real token
    rare_rate_generated: float  # occurrences of those tokens per generated token
    rare_rate_ratio: float  # generated / real; 0 means the tail is gone

    def to_dict(self) -> dict:
        data = asdict(self)
        data["distinct_ngram_ratio"] = {str(n): r for n, r in self.distinct_ngram_ratio.items()}
        return data


def corpus_stats(
    real_blocks: Blocks, generated_blocks: Blocks, ngram_orders: Sequence[int] = (2, 3), rare_fraction: float = 0.1
) -> CorpusStats:
    """Distinct tokens and n-grams of `generated_blocks` relative to `real_blocks`, and the frequency of
    the real corpus's rarest tokens in both."""
    real_vocab = ngram_counts(real_blocks, 1)
    gen_vocab = ngram_counts(generated_blocks, 1)
    ngram_ratio = {}
    for n in ngram_orders:
        real_n = len(ngram_counts(real_blocks, n))
        ngram_ratio[n] = len(ngram_counts(generated_blocks, n)) / real_n if real_n else float("nan")
    rare = rarest_tokens(real_blocks, rare_fraction)
    rate_real, rate_gen = token_rate(real_blocks, rare), token_rate(generated_blocks, rare)
    return CorpusStats(
        distinct_tokens=len(gen_vocab),
        distinct_tokens_real=len(real_vocab),
        distinct_token_ratio=len(gen_vocab) / len(real_vocab),
        distinct_ngram_ratio=ngram_ratio,
        rare_tokens=len(rare),
        rare_rate_real=rate_real,
        rare_rate_generated=rate_gen,
        rare_rate_ratio=rate_gen / rate_real,
    )


@dataclass(frozen=True)
class PerplexityHistogram:
    """Histograms of per-block perplexity on one set of bin edges shared by every generation."""

    edges: list[float]
    counts: dict[str, list[int]]  # generation label -> blocks per bin
    density: dict[str, list[float]]  # generation label -> probability density per bin (integrates to 1)
    log_bins: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _shared_edges(values: np.ndarray, bins: int, log_bins: bool) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:  # every block has the same perplexity: one visible bin around it
        low, high = low * 0.99, high * 1.01 + 1e-12
    if log_bins:
        return np.geomspace(low, high, bins + 1)
    return np.linspace(low, high, bins + 1)


def perplexity_histogram(
    perplexities: Mapping[int | str, Sequence[float] | np.ndarray], bins: int = 30, log_bins: bool = True
) -> PerplexityHistogram:
    """Histogram each generation's per-block perplexities on shared bins spanning all of them (log-spaced
    by default: perplexity tails are long)."""
    if not perplexities or bins < 1:
        raise UserError("perplexity_histogram needs at least one generation and bins >= 1")
    arrays = {str(k): np.asarray(v, dtype=np.float64) for k, v in perplexities.items()}
    if any(a.size == 0 for a in arrays.values()):
        raise UserError("every generation needs at least one perplexity value")
    every = np.concatenate(list(arrays.values()))
    if log_bins and every.min() <= 0:
        raise UserError("log-spaced bins need positive perplexities; pass log_bins=False")
    edges = _shared_edges(every, bins, log_bins)
    counts = {k: np.histogram(a, bins=edges)[0] for k, a in arrays.items()}
    widths = np.diff(edges)
    density = {k: (c / (c.sum() * widths)).tolist() for k, c in counts.items()}
    return PerplexityHistogram(
        edges=edges.tolist(), counts={k: c.tolist() for k, c in counts.items()}, density=density, log_bins=log_bins
    )
