"""Prepacked linears while sampling: same outputs as the module's own forward, gone after the block, and
repacked when the weights change (as they do between loop iterations)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfimprove.sampling.packed import _available, packed_linears

pytestmark = pytest.mark.skipif(not _available(), reason="this torch build has no oneDNN linear")


def test_packed_block_matches_and_restores():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 48), nn.SiLU(), nn.Linear(48, 16, bias=False))
    x = torch.randn(5, 1, 32)
    with torch.inference_mode():
        expected = model(x)
        with packed_linears(model, rows=5):
            assert "forward" in model[0].__dict__, "the linear should run packed inside the block"
            packed = model(x)
        assert all("forward" not in m.__dict__ for m in model)
    torch.testing.assert_close(packed, expected, rtol=1e-4, atol=1e-5)


def test_weights_changed_in_place_are_repacked():
    torch.manual_seed(0)
    layer = nn.Linear(16, 16)
    x = torch.randn(3, 16)
    with torch.inference_mode(), packed_linears(layer, rows=3):
        before = layer(x)
    with torch.no_grad():
        layer.weight.mul_(2.0)  # what an optimizer step does: same storage, new values
    with torch.inference_mode():
        expected = layer(x)
        with packed_linears(layer, rows=3):
            after = layer(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5)


class Attention(nn.Module):
    """q/k/v projections with fewer key/value outputs, as with grouped-query attention."""

    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(32, 32), nn.Linear(32, 16), nn.Linear(32, 16)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> list[torch.Tensor]:
        # q, k and v of one input, then k of a different input, then v of the first again
        return [self.q_proj(x).view(*x.shape[:-1], 4, 8), self.k_proj(x), self.v_proj(x), self.k_proj(other),
                self.v_proj(x)]


@pytest.mark.parametrize("rows", [6, 2], ids=["decoding-step", "prefill"])
def test_fused_projections_match_their_own_forwards(rows):
    """Inputs of up to `rows` rows (a decoding step) share one q/k/v product; larger ones (a prompt's prefill)
    get a product per projection."""
    torch.manual_seed(0)
    attention = Attention()
    x, other = torch.randn(6, 1, 32), torch.randn(6, 1, 32)
    with torch.inference_mode():
        expected = attention(x, other)
        with packed_linears(attention, rows=rows):
            packed = attention(x, other)
            again = attention(x.clone(), other)  # a new input of equal values is a new product
    for got, want, repeat in zip(packed, expected, again):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(repeat, want, rtol=1e-4, atol=1e-5)
    storage = [t.untyped_storage().data_ptr() for t in packed]
    if rows == 6:
        assert storage[0] == storage[1] == storage[2], "q, k and v of one input come from one product"
        assert storage[3] != storage[1] and storage[4] != storage[2], "another input gets its own product"
    else:
        assert len(set(storage)) == len(storage) and all(t.is_contiguous() for t in packed[1:])
