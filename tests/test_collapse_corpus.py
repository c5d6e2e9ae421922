"""Corpus statistics for model collapse, on hand-worked examples."""

from __future__ import annotations

import pytest

from selfimprove.collapse.blocks import split_into_blocks
from selfimprove.collapse.symptoms import (
    corpus_stats,
    ngram_counts,
    perplexity_histogram,
    rarest_tokens,
    tail_loss,
    token_rate,
)
from selfimprove.collapse.plots import figure_to_data_uri, plot_perplexity_histograms
from selfimprove.errors import UserError

# Token counts in REAL: 1:2, 2:2, 3:2, 4:1, 5:1 (8 tokens, 5 distinct).
REAL = [[1, 2, 3, 1], [4, 2, 3, 5]]
GEN = [[1, 2, 1, 2], [3, 3, 3, 4]]


def test_tail_loss_against_generation_zero_percentile() -> None:
    reference = list(range(1, 21))  # 95th percentile (linear): 19 + 0.05 * (20 - 19) = 19.05
    assert tail_loss(reference, [1, 19, 19.1, 25, 100]) == pytest.approx(3 / 5)
    assert tail_loss(reference, reference) == pytest.approx(1 / 20)  # generation 0 against itself
    assert tail_loss(reference, [5, 6], quantile=50) == 0.0  # median 10.5
    with pytest.raises(UserError):
        tail_loss(reference, [1.0], quantile=100)


def test_ngrams_stay_inside_blocks() -> None:
    # REAL bigrams: (1,2) (2,3) (3,1) | (4,2) (2,3) (3,5); the cross-block (1,4) must not appear.
    assert ngram_counts(REAL, 2) == {(1, 2): 1, (2, 3): 2, (3, 1): 1, (4, 2): 1, (3, 5): 1}
    assert len(ngram_counts(GEN, 2)) == 4  # (1,2) (2,1) (3,3) (3,4); cross-block (2,3) excluded
    assert ngram_counts([[7]], 2) == {}


def test_rarest_tokens_break_ties_by_id() -> None:
    assert rarest_tokens(REAL, 0.1) == {4}  # ceil(0.1 * 5) = 1 token: counts (1,4) < (1,5)
    assert rarest_tokens(REAL, 0.4) == {4, 5}
    assert rarest_tokens(REAL, 0.5) == {4, 5, 1}  # ceil(2.5) = 3: next is count 2, lowest id
    assert token_rate(REAL, {4, 5}) == pytest.approx(2 / 8)
    assert token_rate([], {4}) == 0.0


def test_corpus_stats_hand_worked() -> None:
    s = corpus_stats(REAL, GEN, ngram_orders=(1, 2, 3), rare_fraction=0.4)
    assert (s.distinct_tokens, s.distinct_tokens_real) == (4, 5)
    assert s.distinct_token_ratio == pytest.approx(4 / 5)
    # distinct n-grams generated / real: unigrams 4/5, bigrams 4/5, trigrams 4/4
    assert s.distinct_ngram_ratio == pytest.approx({1: 0.8, 2: 0.8, 3: 1.0})
    # rare set {4, 5}: 2 of 8 real tokens, 1 of 8 generated tokens (5 has vanished)
    assert s.rare_tokens == 2
    assert (s.rare_rate_real, s.rare_rate_generated, s.rare_rate_ratio) == pytest.approx((0.25, 0.125, 0.5))
    assert s.to_dict()["distinct_ngram_ratio"] == {"1": 0.8, "2": 0.8, "3": 1.0}


def test_histogram_shares_bins_across_generations() -> None:
    hist = perplexity_histogram({0: [1, 2, 4], 1: [8, 8]}, bins=3)  # log edges 1, 2, 4, 8
    assert hist.edges == pytest.approx([1, 2, 4, 8])
    assert hist.counts == {"0": [1, 1, 1], "1": [0, 0, 2]}
    assert hist.density["0"] == pytest.approx([1 / 3, 1 / 6, 1 / 12])  # count / (n * bin width)
    assert hist.density["1"] == pytest.approx([0, 0, 0.25])
    linear = perplexity_histogram({0: [1, 2, 4], 1: [8, 8]}, bins=2, log_bins=False)
    assert linear.edges == pytest.approx([1, 4.5, 8]) and linear.counts == {"0": [3, 0], "1": [0, 2]}
    assert sum(perplexity_histogram({0: [3.0, 3.0]}, bins=4).counts["0"]) == 2  # degenerate range
    assert figure_to_data_uri(plot_perplexity_histograms(hist)).startswith("data:image/png;base64,")
    with pytest.raises(UserError):
        perplexity_histogram({0: []})


def test_split_into_blocks_drops_the_remainder() -> None:
    assert split_into_blocks(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert split_into_blocks([1, 2], 4) == []
