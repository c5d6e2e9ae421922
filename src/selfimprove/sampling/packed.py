"""Linear layers with oneDNN-prepacked weights while sampling on a CPU, an attention's q/k/v fused.

Why: decoding multiplies a few dozen rows by each weight matrix per step, products far too short for the default
CPU GEMM to reach its large-matrix throughput. oneDNN can lay a weight out once in its blocked format and reuse
it across calls (the op `torch.compile` uses for frozen CPU linears); at the tiny model's shapes with 64 rows the
packed product ran 15-35% faster than `F.linear` on the 2-core CPU we measured. An attention's q, k and v
projections of one input are also packed as one matrix: in a decoding step the first of them to see the input
computes the whole product and the others return their slices of it, one product instead of three short ones
(4-10% more sampled tokens/s on the tiny model, 3% on SmolLM2-135M; fusing a gated MLP's gate/up as well gained
nothing measurable). A prompt's prefill keeps separate products: there the wide product was slower, and its
strided slices slowed the attention over the prompt. The packed forward is installed for the length of a
sampler call only, so training never sees it; the packed weights are kept for the next call and repacked once
the weights change. The packed copies cost as much memory as the weights (the fused q/k/v twice), so large
models are left alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

# Pack only while the linear weights take at most this much memory (the copies double it, or a little more).
PACK_LIMIT_BYTES = 2 * 1024**3
# Sibling projections that transformers' models apply to one and the same input tensor (Llama, Mistral, Qwen,
# Gemma, GPT-J, OPT, ...), by attribute name; each group found in a module is packed as one matrix.
FUSED = (("q_proj", "k_proj", "v_proj"),)

Forward = Callable[..., torch.Tensor]
Packs = tuple[list[Forward], list[Any]]  # a group's forwards, one per member, and its memory of the last product


def _available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _packable(m: Any) -> bool:
    return type(m) is nn.Linear and m.weight.dtype == torch.float32 and m.weight.device.type == "cpu"


def _groups(model: nn.Module) -> list[tuple[nn.Linear, ...]]:
    """Every packable linear once: in a fused group when all its siblings are packable and take the same input
    size with or without bias alike, else alone."""
    groups, grouped = [], set()
    for module in model.modules():
        for names in FUSED:
            members = tuple(getattr(module, name, None) for name in names)
            if (all(_packable(m) for m in members) and len({m.in_features for m in members}) == 1
                    and len({m.bias is None for m in members}) == 1):
                groups.append(members)
                grouped.update(members)
    return groups + [(m,) for m in model.modules() if _packable(m) and m not in grouped]


def _pack_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def _product(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def _packed_forwards(group: tuple[nn.Linear, ...], rows: int) -> Packs:
    """One forward per member, and the fused group's memory of its last input and product (cleared after use)."""
    own = [(_pack_weight(m.weight, rows), None if m.bias is None else m.bias.detach()) for m in group]
    if len(group) == 1:
        return [lambda x, *args, **kwargs: _product(x, *own[0])], []
    fused = _pack_weight(torch.cat([m.weight.detach() for m in group]), rows)
    bias = None if group[0].bias is None else torch.cat([m.bias.detach() for m in group])
    last: list[Any] = []  # [weak reference to the last input, its product]

    def member(i: int, start: int, end: int) -> Forward:
        def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            if x.numel() > rows * x.shape[-1]:  # more rows than a decoding step: a prompt's prefill
                return _product(x, *own[i])
            # The same tensor object as the last input (kept alive by the caller, so not a recycled id): reuse.
            if not last or last[0]() is not x:
                last[:] = [weakref.ref(x), _product(x, fused, bias)]
            return last[1][..., start:end]
        return forward

    ends = torch.tensor([m.out_features for m in group]).cumsum(0).tolist()
    return [member(i, end - m.out_features, end) for i, (m, end) in enumerate(zip(group, ends))], last


# Packed forwards by group (keyed by its first linear), reused across sampler calls until a weight changes:
# packing costs ~0.5 ms per matrix, which adds up for callers that sample a batch at a time. Weak keys: a dropped
# model frees its packs.
_packs: weakref.WeakKeyDictionary[nn.Linear, tuple[tuple[int, ...], Packs]] = weakref.WeakKeyDictionary()


def _version(group: tuple[nn.Linear, ...], rows: int) -> tuple[int, ...]:
    """Changes whenever a weight or bias does: storage moved, or written in place (an optimizer step or a
    loaded state dict bumps the tensor's version counter)."""
    tensors = [t for m in group for t in (m.weight, m.bias) if t is not None]
    return (rows, *(v for t in tensors for v in (t.data_ptr(), t._version)))


def _pack(groups: list[tuple[nn.Linear, ...]], rows: int) -> list[tuple[tuple[nn.Linear, ...], Packs]]:
    packs = []
    try:
        for group in groups:
            version = _version(group, rows)
            if group[0] not in _packs or _packs[group[0]][0] != version:
                _packs[group[0]] = (version, _packed_forwards(group, rows))
            packs.append((group, _packs[group[0]][1]))
    except RuntimeError:  # a oneDNN build that cannot pack these weights: the default path still works
        return []
    return packs


@contextmanager
def packed_linears(model: nn.Module, rows: int) -> Iterator[None]:
    """Within the block, every plain float32 `nn.Linear` of a CPU model multiplies with a prepacked weight
    (laid out for about `rows` input rows), sibling projections fused. Does nothing on other devices, dtypes
    or builds without oneDNN."""
    groups = _groups(model) if _available() else []
    size = sum(m.weight.numel() * m.weight.element_size() for group in groups for m in group)
    packs = _pack(groups, rows) if groups and size <= PACK_LIMIT_BYTES else []
    try:
        for group, (forwards, _) in packs:
            for m, forward in zip(group, forwards):
                m.forward = forward
        yield
    finally:
        for group, (_, last) in packs:
            last.clear()
            for m in group:
                m.__dict__.pop("forward", None)
