"""One batch of autoregressive decoding with a HF causal LM, lean enough to beat `model.generate`.

Why not `model.generate`: on small models its per-step bookkeeping costs more than the model itself, and
it keeps computing rows that already finished until the slowest row ends. This loop calls the same model
forward and differs in ways that change no sampled distribution:
  1. the prompt is prefilled once and its KV cache repeated for the n samples (`reorder_cache`);
  2. finished rows are dropped from the batch (`reorder_cache`) so later steps compute live rows only;
  3. the KV cache grows in preallocated buffers (cache.py) instead of being concatenated every step;
  4. each step gets its 4-D attention mask ready-made, skipping the library's mask construction;
  5. per step it does only what sampling needs: temperature, then a top-p draw over the most probable
     tokens instead of a sort of the whole vocabulary (nucleus.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from selfimprove.sampling.cache import decode_cache
from selfimprove.sampling.nucleus import draw
from selfimprove.types import SamplingParams

# Drop finished rows only when at least this fraction of the batch is done: copying the cache for every
# single finished row costs more than computing a few dead rows for a step or two.
COMPACT_FRACTION = 0.125


@dataclass
class Decoded:
    """Generated token ids of one row (stop token included when it stopped) and their total logprob."""

    tokens: list[int]
    logprob: float


def _left_pad(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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


@torch.inference_mode()
def decode_batch(
    model: PreTrainedModel,
    prompts: list[list[int]],
    n: int,
    params: SamplingParams,
    stop_ids: set[int],
    pad_id: int,
    generator: torch.Generator,
) -> list[Decoded]:
    """Decode `n` continuations of each prompt; row i*n + j is sample j of prompt i."""
    device = model.device
    ids, mask = _left_pad(prompts, pad_id, device)
    width = ids.shape[1]
    impl = getattr(model.config, "_attn_implementation", None)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = decode_cache(model.config, width + params.max_new_tokens)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1, :].float().repeat_interleave(n, dim=0)
    cache.reorder_cache(torch.arange(len(prompts), device=device).repeat_interleave(n))
    # Which cache columns each row may attend to: its real prompt tokens, then every generated column (the
    # columns past the current step hold nothing yet and are cut off by `_visible` below).
    attend = torch.ones((len(prompts), width + params.max_new_tokens), dtype=torch.bool, device=device)
    attend[:, :width] = mask.bool()
    attend = attend.repeat_interleave(n, dim=0)
    next_pos = positions[:, -1:].repeat_interleave(n, dim=0) + 1

    rows = len(prompts) * n
    alive = torch.arange(rows, device=device)       # original row index of each live row
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    generated = torch.full((rows, params.max_new_tokens), -1, dtype=torch.long, device=device)
    logprob = torch.zeros(rows, dtype=torch.float64, device=device)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)

    for step in range(params.max_new_tokens):
        token = _pick(logits, params, generator)
        live = ~done[alive]
        generated[alive[live], step] = token[live]
        chosen = logits.gather(-1, token[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        logprob[alive[live]] += chosen[live].double()
        done[alive] |= torch.isin(token, stop)
        if done.all() or step == params.max_new_tokens - 1:
            break
        if (done[alive]).float().mean() >= COMPACT_FRACTION:
            keep = (~done[alive]).nonzero().squeeze(-1)
            cache.reorder_cache(keep)
            alive, token, attend, next_pos = alive[keep], token[keep], attend[keep], next_pos[keep]
        visible = _visible(attend, width + step, impl)
        out = model(input_ids=token[:, None], attention_mask=visible, position_ids=next_pos, past_key_values=cache,
                    use_cache=True)
        logits = out.logits[:, -1, :].float()
        next_pos = next_pos + 1

    result = []
    for row, lp in zip(generated.tolist(), logprob.tolist()):
        tokens = [t for t in row if t >= 0]
        result.append(Decoded(tokens, lp))
    return result
