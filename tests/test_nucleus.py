"""The top-p draw: the same distribution as transformers' TopPLogitsWarper + softmax, without a full sort."""

from __future__ import annotations

import pytest
import torch
from transformers import TopPLogitsWarper

from selfimprove.sampling.nucleus import CANDIDATES, draw, nucleus


def reference(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    return torch.softmax(TopPLogitsWarper(top_p)(None, scores.clone()), dim=-1)


def ours(scores: torch.Tensor, top_p: float, k: int) -> torch.Tensor:
    """Our nucleus as a full probability vector (renormalized), taking the full-vocabulary fallback where needed."""
    def probabilities(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids, cdf, size, complete = nucleus(scores, top_p, k)
        p = torch.diff(cdf, dim=-1, prepend=torch.zeros_like(cdf[:, :1]))
        p[torch.arange(k).expand_as(p) >= size] = 0.0  # outside the nucleus
        return torch.zeros_like(scores).scatter_(-1, ids, p), complete

    candidates, complete = probabilities(k)
    out = torch.where(complete[:, None], candidates, probabilities(scores.shape[-1])[0])
    return out / out.sum(-1, keepdim=True)


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 3.0])  # peaked rows fit the candidates; flat rows do not
def test_distribution_equals_top_p_warper(top_p: float, temperature: float) -> None:
    scores = torch.randn(64, 1000, generator=torch.Generator().manual_seed(0)) * 4 / temperature
    expected = reference(scores, top_p)
    got = ours(scores, top_p, CANDIDATES)
    # Equal up to float rounding: a token whose preceding mass is within rounding of top_p may fall on either
    # side (the warper sums ascending, we sum descending); such a token's probability is about 1 - top_p or less.
    assert torch.allclose(got, expected, atol=max(1e-6, (1 - top_p) / 20))
    complete = nucleus(scores, top_p, CANDIDATES)[-1]
    if temperature == 3.0 and top_p >= 0.95:
        assert not complete.all(), "flat rows must take the full-vocabulary path"


def test_draws_follow_the_nucleus() -> None:
    """Empirical frequencies of 40,000 draws match the warper's probabilities; tokens outside never appear."""
    scores = torch.tensor([[2.0, 1.5, 1.0, 0.0, -1.0, -3.0]]).repeat(40_000, 1)
    expected = reference(scores[:1], 0.9)[0]
    tokens = draw(scores, 0.9, torch.Generator().manual_seed(1))
    freq = torch.bincount(tokens, minlength=6).float() / len(tokens)
    assert torch.all(freq[expected == 0] == 0)
    assert torch.allclose(freq, expected, atol=0.01)
    full = draw(scores, 1.0, torch.Generator().manual_seed(1))
    full_freq = torch.bincount(full, minlength=6).float() / len(full)
    assert torch.allclose(full_freq, torch.softmax(scores[0], -1), atol=0.01)


def test_draw_is_seeded() -> None:
    scores = torch.randn(32, 500)
    a = draw(scores, 0.95, torch.Generator().manual_seed(5))
    assert torch.equal(a, draw(scores, 0.95, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, draw(scores, 0.95, torch.Generator().manual_seed(6)))
