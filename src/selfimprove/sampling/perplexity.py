"""Per-block perplexity of a causal LM on blocks of token ids (what HFSampler.perplexities scores with).

Shumailov et al. (Nature 2024) measure collapse by the perplexity of each generation's model on the real
WikiText-2 test blocks (their Fig. 1: mean and spread over generations, and per-block histograms).
For a block x_1..x_L the perplexity is exp(-(1/(L-1)) * sum_{t=2..L} log p(x_t | x_<t)): the first
token has no context inside the block and is not scored, the usual convention of HF causal-LM losses.
With `score_from`, block i is scored from token `score_from[i]` on only (a reference solution given its
prompt, say): the conditional perplexity of that suffix, exp of its mean token NLL given everything before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from selfimprove.errors import UserError
from selfimprove.progress import progress_bar


def _check_blocks(blocks: Sequence[Sequence[int]], vocab_size: int | None, min_len: int) -> None:
    if not blocks:
        raise UserError("no blocks given: pass at least one block of token ids")
    for i, block in enumerate(blocks):
        if len(block) < min_len:
            raise UserError(f"block {i} has {len(block)} tokens; at least {min_len} are needed")
        if vocab_size is not None and (min(block) < 0 or max(block) >= vocab_size):
            raise UserError(
                f"block {i} has token ids outside [0, {vocab_size}): tokenize with the model's own tokenizer"
            )


def _check_starts(blocks: Sequence[Sequence[int]], score_from: Sequence[int] | None) -> torch.Tensor:
    """The first scored position of each block (1 = all but the first token), checked."""
    if score_from is None:
        return torch.ones(len(blocks), dtype=torch.long)
    if len(score_from) != len(blocks):
        raise UserError(f"score_from has {len(score_from)} entries for {len(blocks)} blocks")
    for i, (block, first) in enumerate(zip(blocks, score_from)):
        if not 1 <= first < len(block):
            raise UserError(f"score_from[{i}] = {first} leaves no token of block {i} (length {len(block)}) to score")
    return torch.as_tensor(list(score_from), dtype=torch.long)


def _pad_right(batch: Sequence[Sequence[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask; pad positions are masked, so the pad id itself is irrelevant."""
    width = max(len(b) for b in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, block in enumerate(batch):
        ids[row, : len(block)] = torch.as_tensor(list(block), dtype=torch.long)
        mask[row, : len(block)] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def _batch_mean_nll(
    model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor
) -> torch.Tensor:
    # Logits only from the position before the batch's first scored token on: with a large vocabulary the
    # full (batch, length, vocab) logits of a long prompt cost more than the model itself.
    first = int(starts.min())
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=ids.shape[1] - first + 1).logits
    logits = logits[:, :-1].float()  # position p predicts token p + 1, for p = first - 1 .. L - 2
    targets, target_mask = ids[:, first:], mask[:, first:].float()
    positions = torch.arange(first, ids.shape[1], device=ids.device)  # the token position each target sits at
    target_mask = target_mask * (positions[None, :] >= starts[:, None].to(ids.device)).float()
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (batch, L - first)
    return (nll * target_mask).sum(dim=1) / target_mask.sum(dim=1)


def block_perplexities(
    model: PreTrainedModel,
    blocks: Sequence[Sequence[int]],
    batch_size: int = 16,
    show_progress: bool = False,
    score_from: Sequence[int] | None = None,
) -> np.ndarray:
    """Perplexity of `model` on each block (shape: (len(blocks),)), in the order given; with `score_from`,
    on the tokens of block i from position score_from[i] (>= 1, < its length) on."""
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    _check_blocks(blocks, getattr(model.config, "vocab_size", None), min_len=2)
    starts = _check_starts(blocks, score_from)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Batches of similar length (less padding to compute); results go back to the order given.
    order = sorted(range(len(blocks)), key=lambda i: len(blocks[i]))
    nll = torch.empty(len(blocks), dtype=torch.float32)
    try:
        with progress_bar("perplexity", total=len(blocks), enabled=show_progress) as advance:
            for start in range(0, len(blocks), batch_size):
                rows = order[start : start + batch_size]
                batch = [blocks[i] for i in rows]
                nll[rows] = _batch_mean_nll(model, *_pad_right(batch, device), starts[rows]).cpu().float()
                advance(len(batch))
    finally:
        model.train(was_training)
    return torch.exp(nll).numpy().astype(np.float64)
