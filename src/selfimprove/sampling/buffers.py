"""KV cache buffers kept across the decoding batches of one sampler call, so a batch writes into memory it
already owns.

Why: each batch needs fresh cache buffers, written one column per decoding step. On a CPU a large fresh
allocation is fresh pages from the operating system, and every page faults (and is zeroed by the kernel) at
its first write; on the tiny model that cost ~40 us per buffer and step (two buffers per layer, against
~250 us for the layer's attention), and a sampling call (n=8, batch 64) took 4.5 page faults per generated
token; with these buffers, 0.3-0.6. Buffers handed out here are carved from storage kept by role (which
layer, keys or values, which stage of the cache), so after the first batch their pages are already mapped.
(A GPU's caching allocator already reuses memory this way.)
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import torch

# Storage grows with headroom: batches come sorted by prompt length, so each tends to need a little more than
# the last, and headroom that is never written costs no physical memory.
GROWTH = 1.5


class Buffers:
    """Uninitialized tensors by role; a role's tensor stays valid until the next request for the same role,
    which reuses its memory."""

    def __init__(self) -> None:
        self._storage: dict[Hashable, torch.Tensor] = {}

    def empty(self, role: Hashable, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialized tensor of `shape` with the dtype and device of `like`."""
        numel = math.prod(shape)
        flat = self._storage.get(role)
        if flat is None or flat.numel() < numel or flat.dtype != like.dtype or flat.device != like.device:
            size = numel if flat is None else max(numel, int(GROWTH * flat.numel()))
            self._storage[role] = flat = like.new_empty(size)
        return flat[:numel].view(shape)
