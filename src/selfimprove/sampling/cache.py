"""A KV cache that grows in place: the library's `StaticLayer` storage, returned only up to its filled length.

Why: `DynamicCache` concatenates every step's keys and values onto the whole cache (`torch.cat`), copying
O(length) per step; on a few-million-parameter model that copy costs as much as all the matmuls. `StaticCache`
writes in place but hands attention the full preallocated length, so every step attends over (masked) empty
columns. This layer keeps `StaticLayer`'s preallocated buffers and in-place writes and returns a view of the
filled prefix, so attention sees exactly what `DynamicCache` would give it, without the copy.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import Cache, StaticLayer

from selfimprove.sampling.buffers import Buffers


class GrowingLayer(StaticLayer):
    """One layer's keys and values in buffers of `max_cache_len` columns, exposed up to the columns written. The
    buffers come from `buffers` under `role` (buffers.py); without them, from fresh memory."""

    is_compileable = False  # the returned length changes every step

    def __init__(self, max_cache_len: int, buffers: Buffers | None = None, role: Hashable = "rows",
                 **kwargs: Any) -> None:
        super().__init__(max_cache_len=max_cache_len, **kwargs)
        self.filled = 0  # columns written, kept on the host: reading the device counter would sync a GPU
        self.buffers, self.role = buffers or Buffers(), role

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """`StaticLayer`'s buffers, left unfilled: only written columns are ever read, and zeroing a buffer sized
        for `max_new_tokens` costs more than the few steps most rows take."""
        self.dtype, self.device = key_states.dtype, key_states.device
        self.batch_size, self.num_heads = key_states.shape[:2]
        self.k_head_dim, self.v_head_dim = key_states.shape[-1], value_states.shape[-1]
        shape = (self.batch_size, self.num_heads, self.max_cache_len)
        self.keys = self.buffers.empty((self.role, "keys"), (*shape, self.k_head_dim), key_states)
        self.values = self.buffers.empty((self.role, "values"), (*shape, self.v_head_dim), value_states)
        self.cumulative_length = self.cumulative_length.to(self.device)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start, end = self.filled, self.filled + key_states.shape[-2]
        self.keys[:, :, start:end].copy_(key_states)  # a contiguous slice: cheaper than index_copy_
        self.values[:, :, start:end].copy_(value_states)
        self.filled = end
        self.cumulative_length.fill_(end)  # the library's counter, for anything that asks get_seq_length()
        return self.keys[:, :, :end], self.values[:, :, :end]

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Keep (or repeat) the rows `beam_idx`, copying only the filled columns, not the whole buffer. Fewer rows
        stay in the same buffers (their first rows); more rows move to new ones, under the role's second name."""
        if not self.is_initialized:
            return
        filled = self.filled
        index = beam_idx.to(self.keys.device)
        more = len(index) > self.keys.shape[0]
        if more:
            self.role = (self.role, "repeated")
        for name in ("keys", "values"):
            old = getattr(self, name)
            if more:
                new = self.buffers.empty((self.role, name), (len(index), *old.shape[1:]), old)
                torch.index_select(old[:, :, :filled], 0, index, out=new[:, :, :filled])
            else:  # the kept rows overlap the rows they move to: through a copy (in kept memory too)
                kept = self.buffers.empty("reordered rows", (len(index), old.shape[1], filled, old.shape[3]), old)
                torch.index_select(old[:, :, :filled], 0, index, out=kept)
                new = old[:len(index)]
                new[:, :, :filled] = kept
            setattr(self, name, new)

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """The mask covers the filled columns plus the ones being written (as for a dynamic layer)."""
        return self.filled + query_length, 0


def decode_cache(config: PretrainedConfig, max_cache_len: int, buffers: Buffers | None = None) -> Cache:
    """`GrowingLayer`s (buffers from `buffers`, else fresh) when every layer attends to the full context; otherwise
    (sliding-window or hybrid models) the library's `DynamicCache`, which knows those layer types."""
    text = config.get_text_config(decoder=True)
    types = getattr(text, "layer_types", None)
    full = all(t == "full_attention" for t in types) if types else getattr(text, "sliding_window", None) is None
    if not full:
        return DynamicCache(config=config)
    return Cache(layers=[GrowingLayer(max_cache_len, buffers, ("prompt", i)) for i in range(text.num_hidden_layers)])
