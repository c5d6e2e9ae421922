"""Per-block perplexity with a real micro Llama trained in the test to memorize a few sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfimprove.collapse.measure import summarize_perplexity
from selfimprove.sampling.perplexity import block_perplexities
from selfimprove.errors import UserError
from conftest import MEMORIZED_VOCAB as VOCAB


def test_memorized_blocks_have_low_perplexity_and_shuffled_high(memorized) -> None:  # noqa: ANN001
    model, data = memorized
    blocks = data.tolist()
    rng = np.random.default_rng(0)
    shuffled = [rng.permutation(b).tolist() for b in blocks]
    ppl_real = block_perplexities(model, blocks, batch_size=2)
    ppl_shuffled = block_perplexities(model, shuffled, batch_size=2)
    assert ppl_real.shape == (4,) and ppl_real.dtype == np.float64
    assert np.all(ppl_real < 1.5)
    assert np.all(ppl_shuffled > 10.0)
    assert model.training  # left in the mode it was given in


def test_matches_the_models_own_loss(memorized) -> None:  # noqa: ANN001
    """exp(mean token NLL) must equal exp(loss) of the HF model on the same single block."""
    model, data = memorized
    block = data[1, :20].tolist()
    rng = np.random.default_rng(1)
    noisy = [int(t) if rng.random() < 0.5 else int(rng.integers(3, VOCAB)) for t in block]
    with torch.no_grad():
        ids = torch.tensor([noisy])
        expected = torch.exp(model(input_ids=ids, labels=ids).loss).item()
    assert block_perplexities(model, [noisy])[0] == pytest.approx(expected, rel=1e-4)


def test_padding_does_not_change_perplexity(memorized) -> None:  # noqa: ANN001
    """Blocks of different lengths in one batch (right-padded, masked) score as they do alone."""
    model, data = memorized
    blocks = [data[0, :7].tolist(), data[1].tolist(), data[2, 5:20].tolist(), [5, 9, 11, 3, 40]]
    alone = np.array([block_perplexities(model, [b])[0] for b in blocks])
    batched = block_perplexities(model, blocks, batch_size=4)
    np.testing.assert_allclose(batched, alone, rtol=1e-4)


def test_bad_blocks_are_user_errors(memorized) -> None:  # noqa: ANN001
    model, _ = memorized
    with pytest.raises(UserError, match="at least 2"):
        block_perplexities(model, [[4, 5, 6], [7]])
    with pytest.raises(UserError, match="outside"):
        block_perplexities(model, [[4, VOCAB]])
    with pytest.raises(UserError, match="no blocks"):
        block_perplexities(model, [])


def test_summary_hand_checked() -> None:
    s = summarize_perplexity([2.0, 4.0, 6.0, 8.0])
    assert (s.n, s.mean, s.median) == (4, 5.0, 5.0)
    assert s.std == pytest.approx(np.sqrt(5.0))  # population std: mean of (9, 1, 1, 9)
    assert s.p95 == pytest.approx(7.7)  # linear interpolation between 6 and 8 at rank 2.85
    with pytest.raises(UserError):
        summarize_perplexity([])


def test_score_from_matches_the_models_loss_on_the_suffix(memorized) -> None:  # noqa: ANN001
    """Scoring from position s is exp of the HF loss with the first s labels masked (-100), per block, also
    when blocks of different lengths share a batch."""
    model, data = memorized
    blocks = [data[0, :20].tolist(), data[1, :11].tolist(), [5, 9, 11, 3, 40, 7]]
    starts = [8, 1, 3]
    expected = []
    for block, start in zip(blocks, starts):
        ids = torch.tensor([block])
        labels = ids.clone()
        labels[0, :start] = -100
        with torch.no_grad():
            expected.append(torch.exp(model(input_ids=ids, labels=labels).loss).item())
    np.testing.assert_allclose(block_perplexities(model, blocks, batch_size=3, score_from=starts), expected, rtol=1e-4)
    assert block_perplexities(model, blocks, score_from=[1, 1, 1]) == pytest.approx(block_perplexities(model, blocks))
    with pytest.raises(UserError, match="leaves no token"):
        block_perplexities(model, blocks, score_from=[20, 1, 1])
    with pytest.raises(UserError, match="entries"):
        block_perplexities(model, blocks, score_from=[1])
