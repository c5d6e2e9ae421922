"""One batch of autoregressive decoding with a HF causal LM, lean enough to beat `model.generate`.

Why not `model.generate`: on small models its per-step bookkeeping costs more than the model itself, and
it keeps computing rows that already finished until the slowest row ends. This loop calls the same model
forward and differs in ways that change no sampled distribution:
  1. the prompt is prefilled once; its n samples share the prompt's keys and values (shared_prompt.py) while
     most of them are live, and get per-row copies (`unshare`, or `reorder_cache` when n = 1) after that;
  2. finished rows are dropped from the batch so later steps compute live rows only;
  3. the KV cache grows in preallocated buffers (cache.py) instead of being concatenated every step;
  4. each step gets its 4-D attention mask ready-made, skipping the library's mask construction;
  5. per step it does only what sampling needs: temperature, then a top-p draw over the most probable
     tokens instead of a sort of the whole vocabulary (nucleus.py).
The sampler around it (hf.py) also runs the linear layers with prepacked weights on a CPU (packed.py), and
keeps the KV cache memory of one batch for the next (buffers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import Cache

from selfimprove.sampling.buffers import Buffers
from selfimprove.sampling.cache import GrowingLayer, decode_cache
from selfimprove.sampling.nucleus import draw
from selfimprove.sampling.shared_prompt import share, shared_prompt, unshare
from selfimprove.types import SamplingParams

# Drop finished rows only when at least this fraction of the batch is done: copying the cache for every
# single finished row costs more than computing a few dead rows for a step or two.
COMPACT_FRACTION = 0.125
# Decode with shared prompt columns while at least this fraction of the samples is live; below it, move the
# live rows to the per-row cache (shared_prompt.unshare), where each attends over its own columns only.
SHARE_MIN_LIVE = 0.5


@dataclass
class Decoded:
    """Generated token ids of one row (stop token included when it stopped) and their total logprob."""

    tokens: list[int]
    logprob: float


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    return ids.to(device), mask.to(device)


def _pick(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> torch.Tensor:
    """Next token per row: argmax when greedy, else a draw from the temperature/top-p distribution."""
    if params.greedy:
        return logits.argmax(-1)
    return draw(logits / params.temperature, params.top_p, generator)


def _visible(attend: torch.Tensor, column: int, attn_implementation: str | None) -> torch.Tensor:
    """The attention mask of a one-token step writing cache column `column`: the columns written so far,
    without the row's left padding. For SDPA it is given as the final 4-D boolean mask (rows, 1, 1, columns),
    which bypasses the library's per-step mask construction (it costs more than the attention itself on small
    models); other attention implementations get the usual 2-D padding mask."""
    visible = attend[:, :column + 1]
    return visible[:, None, None, :] if attn_implementation == "sdpa" else visible.long()


def _can_share(model: PreTrainedModel, cache: Cache, n: int) -> bool:
    """Whether the n samples can decode with shared prompt columns (shared_prompt.py): n > 1, a model whose
    attention dispatches through transformers' `AttentionInterface` (not every architecture does), the library's
    sdpa or eager attention (the same computation) and full attention in every layer (the growing cache)."""
    impl = getattr(model.config, "_attn_implementation", None)
    return (n > 1 and getattr(model, "_supports_attention_backend", False) and impl in ("sdpa", "eager")
            and all(isinstance(layer, GrowingLayer) for layer in cache.layers))


@torch.inference_mode()
def decode_batch(
    model: PreTrainedModel,
    prompts: list[list[int]],
    n: int,
    params: SamplingParams,
    stop_ids: set[int],
    pad_id: int,
    generator: torch.Generator,
    buffers: Buffers | None = None,
) -> list[Decoded]:
    """Decode `n` continuations of each prompt; row i*n + j is sample j of prompt i. The KV cache lives in
    `buffers` (pass the same one to every batch of a call, buffers.py), else in fresh memory."""
    device = model.device
    ids, mask = left_pad(prompts, pad_id, device)
    width = ids.shape[1]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    buffers = buffers or Buffers()
    cache = decode_cache(model.config, width + params.max_new_tokens, buffers)
    # The ready-made 4-D mask is a full-context one: models with sliding-window layers (the library's cache,
    # not ours) get the 2-D padding mask, from which the library builds each layer type's own mask.
    full_context = all(isinstance(layer, GrowingLayer) for layer in cache.layers)
    impl = getattr(model.config, "_attn_implementation", None) if full_context else None
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1, :].float().repeat_interleave(n, dim=0)
    rows = len(prompts) * n
    shared, attend = None, None
    if _can_share(model, cache, n):
        cache, shared = share(cache, mask, n, params.max_new_tokens, buffers)
    else:
        cache.reorder_cache(torch.arange(len(prompts), device=device).repeat_interleave(n))
        # Which cache columns each row may attend to: its real prompt tokens, then every generated column (the
        # columns past the current step hold nothing yet and are cut off by `_visible` below).
        attend = torch.ones((len(prompts), width + params.max_new_tokens), dtype=torch.bool, device=device)
        attend[:, :width] = mask.bool()
        attend = attend.repeat_interleave(n, dim=0)
    next_pos = positions[:, -1:].repeat_interleave(n, dim=0) + 1

    # Final results by original row; while decoding, each live row's tokens, logprob and stop flag are kept in
    # live-row order (slice writes, no scatter per step) and handed over when the row leaves the batch.
    generated = torch.full((rows, params.max_new_tokens), -1, dtype=torch.long, device=device)
    logprob = torch.zeros(rows, dtype=torch.float64, device=device)
    alive = torch.arange(rows, device=device)       # original row index of each live row
    tokens, scores = generated.clone(), logprob.clone()
    stopped = torch.zeros(rows, dtype=torch.bool, device=device)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    all_visible = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=device)

    for step in range(params.max_new_tokens):
        token = _pick(logits, params, generator)
        tokens[:, step] = token.masked_fill(stopped, -1)
        chosen = torch.log_softmax(logits, dim=-1).gather(-1, token[:, None]).squeeze(-1)
        scores += chosen.masked_fill(stopped, 0.0).double()
        stopped |= torch.isin(token, stop)
        finished = int(stopped.sum())
        if finished == len(alive) or step == params.max_new_tokens - 1:
            break
        if finished >= COMPACT_FRACTION * len(alive):
            gone, keep = stopped.nonzero().squeeze(-1), (~stopped).nonzero().squeeze(-1)
            generated[alive[gone]], logprob[alive[gone]] = tokens[gone], scores[gone]
            alive, tokens, scores, token, next_pos = (t[keep] for t in (alive, tokens, scores, token, next_pos))
            stopped = stopped[keep]
            if shared is None:
                cache.reorder_cache(keep)
                attend = attend[keep]
            else:
                shared.keep(keep)
                if shared.live_fraction() < SHARE_MIN_LIVE:
                    cache, attend = unshare(cache, shared, params.max_new_tokens, buffers)
                    shared = None
        if shared is None:
            out = model(input_ids=token[:, None], attention_mask=_visible(attend, width + step, impl),
                        position_ids=next_pos, past_key_values=cache, use_cache=True)
        else:
            # The shared-prompt attention builds its own mask; a 4-D one is passed so the library builds none.
            with shared_prompt(model, shared):
                out = model(input_ids=token[:, None], attention_mask=all_visible, position_ids=next_pos,
                            past_key_values=cache, use_cache=True)
        logits = out.logits[:, -1, :].float()
        next_pos = next_pos + 1
    generated[alive], logprob[alive] = tokens, scores

    return [Decoded([t for t in row if t >= 0], lp) for row, lp in zip(generated.tolist(), logprob.tolist())]
