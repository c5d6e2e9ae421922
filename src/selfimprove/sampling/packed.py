"""Linear layers with oneDNN-prepacked weights while sampling on a CPU.

Why: decoding multiplies a few dozen rows by each weight matrix per step. For such short matrices PyTorch's
default CPU GEMM spends a good part of every call re-laying-out the weight; oneDNN can lay a weight out once
in its blocked format and reuse it (the same op `torch.compile` uses for frozen CPU linears). Measured on the
tiny model at batch 64 this makes the linear layers 15–35% faster (bench/sampling.py). Weights cannot change
while a sampler call runs, so they are packed at its start and dropped at its end; training never sees them.
The packed copy costs as much memory as the weights, so large models are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

# Pack only while the linear weights take at most this much memory (the copy doubles it).
PACK_LIMIT_BYTES = 2 * 1024**3


def _available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _packed_forward(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> Callable[..., torch.Tensor]:
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")

    return forward


def _pack(linears: list[nn.Linear], rows: int) -> dict[nn.Linear, Callable[..., torch.Tensor]]:
    try:
        return {m: _packed_forward(m.weight.detach(), None if m.bias is None else m.bias.detach(), rows)
                for m in linears}
    except RuntimeError:  # a oneDNN build that cannot pack these weights: the default path still works
        return {}


@contextmanager
def packed_linears(model: nn.Module, rows: int) -> Iterator[None]:
    """Within the block, every plain float32 `nn.Linear` of a CPU model multiplies with a prepacked weight
    (laid out for about `rows` input rows). Does nothing on other devices, dtypes or builds without oneDNN."""
    linears = [m for m in model.modules() if type(m) is nn.Linear and m.weight.dtype == torch.float32
               and m.weight.device.type == "cpu"]
    size = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    packed = _pack(linears, rows) if linears and size <= PACK_LIMIT_BYTES and _available() else {}
    try:
        for m, forward in packed.items():
            m.forward = forward
        yield
    finally:
        for m in packed:
            m.__dict__.pop("forward", None)
