"""A KV cache that grows in place: the library's `StaticLayer` storage, returned only up to its filled length.

Why: `DynamicCache` concatenates every step's keys and values onto the whole cache (`torch.cat`), copying
O(length) per step; on a few-million-parameter model that copy costs as much as all the matmuls. `StaticCache`
writes in place but hands attention the full preallocated length, so every step attends over (masked) empty
columns. This layer keeps `StaticLayer`'s preallocated buffers and in-place writes and returns a view of the
filled prefix, so attention sees exactly what `DynamicCache` would give it, without the copy.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import Cache, StaticLayer


class GrowingLayer(StaticLayer):
    """One layer's keys and values in buffers of `max_cache_len` columns, exposed up to the columns written."""

    is_compileable = False  # the returned length changes every step

    def __init__(self, max_cache_len: int, **kwargs: Any) -> None:
        super().__init__(max_cache_len=max_cache_len, **kwargs)
        self.filled = 0  # columns written, kept on the host: reading the device counter would sync a GPU

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """`StaticLayer`'s buffers, left unfilled: only written columns are ever read, and zeroing a buffer sized
        for `max_new_tokens` costs more than the few steps most rows take."""
        self.dtype, self.device = key_states.dtype, key_states.device
        self.batch_size, self.num_heads = key_states.shape[:2]
        self.k_head_dim, self.v_head_dim = key_states.shape[-1], value_states.shape[-1]
        shape = (self.batch_size, self.num_heads, self.max_cache_len)
        self.keys = key_states.new_empty((*shape, self.k_head_dim))
        self.values = value_states.new_empty((*shape, self.v_head_dim))
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
        """Keep (or repeat) the rows `beam_idx`, copying only the filled columns, not the whole buffer."""
        if not self.is_initialized:
            return
        filled = self.filled
        index = beam_idx.to(self.keys.device)
        for name in ("keys", "values"):
            old = getattr(self, name)
            new = old.new_empty((len(index), *old.shape[1:]))
            new[:, :, :filled] = old[:, :, :filled].index_select(0, index)
            setattr(self, name, new)

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """The mask covers the filled columns plus the ones being written (as for a dynamic layer)."""
        return self.filled + query_length, 0


def decode_cache(config: PretrainedConfig, max_cache_len: int) -> Cache:
    """`GrowingLayer`s when every layer attends to the full context; otherwise (sliding-window or hybrid
    models) the library's `DynamicCache`, which knows those layer types."""
    text = config.get_text_config(decoder=True)
    types = getattr(text, "layer_types", None)
    full = all(t == "full_attention" for t in types) if types else getattr(text, "sliding_window", None) is None
    if not full:
        return DynamicCache(config=config)
    return Cache(layers=[GrowingLayer(max_cache_len=max_cache_len) for _ in range(text.num_hidden_layers)])
