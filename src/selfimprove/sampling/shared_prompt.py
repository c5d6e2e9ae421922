"""Decoding n samples per prompt with the prompt's keys and values stored and read once, not n times.

Why: with n samples per prompt, a plain KV cache holds n identical copies of every prompt's keys and values,
and each decoding step streams all of them through attention, one query row at a time; on a small model that
costs more than the attention arithmetic. Here each prompt owns one block of cache columns: its prompt
columns, then per step one column for each of its n samples (step-major, so the filled columns are always a
contiguous prefix). The n query rows of a prompt attend to the block together in one SDPA call, with a mask
that shows each sample the prompt (minus its padding) and its own generated columns only. The result equals
attention over a per-row cache (tested against a full forward pass).

It plugs into transformers' attention dispatch (`AttentionInterface`, the library's way to add an attention
function) and cache (`Cache` of per-layer objects): `shared_prompt(model, prompts)` switches the model's
attention to it for a block of decoding steps and back.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, PreTrainedModel
from transformers.cache_utils import Cache, CacheLayerMixin
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from selfimprove.sampling.buffers import Buffers
from selfimprove.sampling.cache import GrowingLayer

NAME = "selfimprove_shared_prompt"


class SharedPrompts:
    """The layout shared by every layer: `prompts` blocks of `width` prompt columns followed by up to
    `max_new_tokens` steps of `n` sample columns, and which samples are still decoding."""

    def __init__(self, prompt_mask: torch.Tensor, n: int, max_new_tokens: int, dtype: torch.dtype) -> None:
        prompts, width = prompt_mask.shape
        self.n, self.width, self.prompts = n, width, prompts
        self.slot: torch.Tensor | None = None  # grid index (prompt * n + sample) of each live row; None: all live
        self.prompt_mask = prompt_mask.bool()
        # visible[p, 0, j, c]: may sample j of prompt p attend to column c; kept additive (0 or -inf) in the
        # attention dtype, the form SDPA would otherwise convert a boolean mask to at every call.
        own = torch.eye(n, dtype=torch.bool, device=prompt_mask.device).repeat(1, max_new_tokens)
        visible = torch.cat([self.prompt_mask[:, None, :].expand(prompts, n, width),
                             own[None].expand(prompts, n, n * max_new_tokens)], dim=-1)[:, None]
        self.bias = torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill_(~visible, -torch.inf)
        self._by_group: dict[int, torch.Tensor] = {1: self.bias}

    def keep(self, rows: torch.Tensor) -> None:
        """Only the live rows `rows` (indices into the current live rows) go on decoding."""
        self.slot = rows if self.slot is None else self.slot[rows]

    def live_fraction(self) -> float:
        return 1.0 if self.slot is None else len(self.slot) / (self.prompts * self.n)

    def grid(self, rows: torch.Tensor) -> torch.Tensor:
        """(live rows, ...) -> (prompts * n, ...), zeros in the slots of finished rows."""
        if self.slot is None:
            return rows
        grid = rows.new_zeros((self.prompts * self.n, *rows.shape[1:]))
        grid[self.slot] = rows
        return grid

    def rows(self, grid: torch.Tensor) -> torch.Tensor:
        return grid if self.slot is None else grid[self.slot]

    def mask(self, group: int, columns: int) -> torch.Tensor:
        """(prompts, 1, n * group, columns): the visibility of each query row when `group` query heads share a kv
        head (their rows sit together, sample-major)."""
        if group not in self._by_group:
            self._by_group[group] = self.bias.repeat_interleave(group, dim=2)
        return self._by_group[group][..., :columns]


class SharedPromptLayer(CacheLayerMixin):
    """One layer's keys and values in the shared layout: (prompts, kv_heads, columns, head_dim), in buffers from
    `buffers` under `role`."""

    is_compileable = False
    is_sliding = False

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, shared: SharedPrompts, max_new_tokens: int,
                 buffers: Buffers, role: Hashable) -> None:
        super().__init__()
        prompts, heads, width = keys.shape[:3]
        columns = width + shared.n * max_new_tokens
        self.keys = buffers.empty((role, "keys"), (prompts, heads, columns, keys.shape[-1]), keys)
        self.values = buffers.empty((role, "values"), (prompts, heads, columns, values.shape[-1]), values)
        self.keys[:, :, :width], self.values[:, :, :width] = keys, values
        self.shared, self.filled, self.is_initialized = shared, width, True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        pass  # built from the prefilled prompt columns

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one step's column per sample (finished samples get zeros: every filled column is finite)."""
        shared, start, end = self.shared, self.filled, self.filled + self.shared.n
        for buffer, states in ((self.keys, key_states), (self.values, value_states)):
            step = shared.grid(states[:, :, 0]).reshape(shared.prompts, shared.n, states.shape[1], states.shape[-1])
            buffer[:, :, start:end] = step.transpose(1, 2)
        self.filled = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def get_seq_length(self) -> int:
        return self.filled

    def get_max_length(self) -> int:
        return self.keys.shape[2]

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.filled + query_length, 0

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        pass  # rows leave through `SharedPrompts.keep`; the blocks stay where they are


_active: ContextVar[SharedPrompts | None] = ContextVar("selfimprove_shared_prompts", default=None)


def shared_prompt_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                            **kwargs: Any) -> tuple[torch.Tensor, None]:
    """One decoding step. query: (rows, heads, 1, head_dim); key/value: (prompts, kv_heads, columns, head_dim)
    from `SharedPromptLayer`. Returns (rows, 1, heads, head_dim) like the library's functions."""
    shared = _active.get()
    if shared is None or query.shape[2] != 1:
        raise RuntimeError(f"{NAME} attention is only for one-token decoding steps inside `shared_prompt(...)`")
    unsupported = [k for k in ("softcap", "sliding_window", "s_aux", "position_bias") if kwargs.get(k) is not None]
    if unsupported:
        raise RuntimeError(f"{NAME} attention does not implement {unsupported}; sample without shared prompts")
    prompts, kv_heads, columns, dim = key.shape
    heads, n = query.shape[1], shared.n
    group = heads // kv_heads
    # A prompt's n samples times the query heads sharing one kv head become the query rows of one attention.
    q = shared.grid(query[:, :, 0]).reshape(prompts, n, kv_heads, group, dim).transpose(1, 2)
    out = F.scaled_dot_product_attention(q.reshape(prompts, kv_heads, n * group, dim), key, value,
                                         attn_mask=shared.mask(group, columns), scale=scaling)
    out = out.view(prompts, kv_heads, n, group, dim).transpose(1, 2).reshape(prompts * n, heads, dim)
    return shared.rows(out)[:, None], None


AttentionInterface.register(NAME, shared_prompt_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # never built (decode passes a 4-D mask), but looked up


def share(cache: Cache, prompt_mask: torch.Tensor, n: int, max_new_tokens: int,
          buffers: Buffers) -> tuple[Cache, SharedPrompts]:
    """From a prefilled cache of `GrowingLayer`s (one row per prompt), the cache (its buffers from `buffers`)
    and layout to decode n samples of each prompt with the prompt columns shared."""
    width = prompt_mask.shape[1]
    shared = SharedPrompts(prompt_mask, n, max_new_tokens, cache.layers[0].keys.dtype)
    layers = [SharedPromptLayer(layer.keys[:, :, :width], layer.values[:, :, :width], shared, max_new_tokens,
                                buffers, ("shared", i)) for i, layer in enumerate(cache.layers)]
    return Cache(layers=layers), shared


def unshare(cache: Cache, shared: SharedPrompts, max_new_tokens: int, buffers: Buffers) -> tuple[Cache, torch.Tensor]:
    """The live rows' keys and values moved to the per-row layout (`GrowingLayer`s: prompt columns, then the
    row's generated columns), and which of the `width + max_new_tokens` columns each row may attend to.

    Why: once most samples have finished, a prompt's block still holds a column per sample and step, and the
    remaining rows would attend over all of them; per row, each attends over its own columns only."""
    n, width = shared.n, shared.width
    slot = shared.slot if shared.slot is not None else torch.arange(shared.prompts * n, device=shared.bias.device)
    prompt, sample = slot // n, slot % n
    steps = (cache.layers[0].filled - width) // n
    own = width + torch.arange(steps, device=slot.device) * n
    columns = torch.cat([torch.arange(width, device=slot.device).expand(len(slot), width),
                         own[None, :] + sample[:, None]], dim=1)  # (rows, width + steps)
    rows = Cache(layers=[GrowingLayer(width + max_new_tokens, buffers, ("rows", i)) for i in range(len(cache.layers))])
    for layer, old in zip(rows.layers, cache.layers):
        # Advanced indexing around the head slice gives (rows, columns, kv_heads, head_dim).
        layer.update(old.keys[prompt[:, None], :, columns].transpose(1, 2),
                     old.values[prompt[:, None], :, columns].transpose(1, 2))
    attend = torch.ones((len(slot), width + max_new_tokens), dtype=torch.bool, device=slot.device)
    attend[:, :width] = shared.prompt_mask[prompt]
    return rows, attend


@contextmanager
def shared_prompt(model: PreTrainedModel, prompts: SharedPrompts) -> Iterator[None]:
    """Within the block, the model's attention reads the shared layout of `prompts`."""
    config = model.config
    before = config._attn_implementation
    token = _active.set(prompts)
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
        _active.reset(token)
