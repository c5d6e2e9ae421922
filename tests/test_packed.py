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
