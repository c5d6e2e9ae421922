"""One batch of autoregressive decoding with a HF causal LM, lean enough to beat `model.generate`.

Why not `model.generate`: on small models its per-step bookkeeping costs more than the model itself, and
it keeps computing rows that already finished until the slowest row ends. This loop calls the same model
forward with the same `DynamicCache`, and differs in three ways that change no sampled distribution:
  1. the prompt is prefilled once and its KV cache repeated for the n samples (`batch_repeat_interleave`);
  2. finished rows are dropped from the batch (`batch_select_indices`) so later steps compute live rows only;
  3. per step it does only what sampling needs: temperature, top-p (transformers' own warpers), one draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel, TopPLogitsWarper

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


def _pick(logits: torch.Tensor, params: SamplingParams, top_p: TopPLogitsWarper | None,
          generator: torch.Generator) -> torch.Tensor:
    """Next token per row: argmax when greedy, else a draw from the temperature/top-p distribution."""
    if params.greedy:
        return logits.argmax(-1)
    scores = logits / params.temperature
    if top_p is not None:
        scores = top_p(None, scores)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


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
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1, :].float().repeat_interleave(n, dim=0)
    cache.batch_repeat_interleave(n)
    mask = mask.repeat_interleave(n, dim=0)
    next_pos = positions[:, -1:].repeat_interleave(n, dim=0) + 1

    rows = len(prompts) * n
    alive = torch.arange(rows, device=device)       # original row index of each live row
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    generated = torch.full((rows, params.max_new_tokens), -1, dtype=torch.long, device=device)
    logprob = torch.zeros(rows, dtype=torch.float64, device=device)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    top_p = TopPLogitsWarper(params.top_p) if params.top_p < 1.0 and not params.greedy else None

    for step in range(params.max_new_tokens):
        token = _pick(logits, params, top_p, generator)
        live = ~done[alive]
        generated[alive[live], step] = token[live]
        logprob[alive[live]] += torch.log_softmax(logits[live], -1).gather(-1, token[live, None]).squeeze(-1).double()
        done[alive] |= torch.isin(token, stop)
        if done.all() or step == params.max_new_tokens - 1:
            break
        if (done[alive]).float().mean() >= COMPACT_FRACTION:
            keep = (~done[alive]).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            alive, token, mask, next_pos = alive[keep], token[keep], mask[keep], next_pos[keep]
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=-1)
        out = model(input_ids=token[:, None], attention_mask=mask, position_ids=next_pos, past_key_values=cache,
                    use_cache=True)
        logits = out.logits[:, -1, :].float()
        next_pos = next_pos + 1

    result = []
    for row, lp in zip(generated.tolist(), logprob.tolist()):
        tokens = [t for t in row if t >= 0]
        result.append(Decoded(tokens, lp))
    return result
