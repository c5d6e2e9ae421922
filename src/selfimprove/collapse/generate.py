"""One generation's synthetic corpus: continue every real block with the current model.

Shumailov et al. (Nature 2024), language-model experiments (OPT-125m on WikiText-2): the data are cut
into blocks of 64 tokens, and "for every block of 64 tokens in the training dataset" the model of
generation n "predicts the next 64-token block using 5-way beam search"; the predicted blocks form the
training set of generation n+1, of the same size as the original one. Their released code sets a
repetition penalty of 3.0. We do the same through `model.generate`:

* context = the real block (left-padded when blocks differ in length, masked by the attention mask);
* continuation = exactly `new_tokens` tokens (min_new_tokens = max_new_tokens, so EOS cannot end a
  continuation early and every synthetic block has the same length as the paper's);
* the synthetic block returned for each real block is the continuation alone, without its context:
  that is the text the next generation trains on.
`decoding="sample"` replaces beam search by ancestral sampling (temperature, top-p, top-k), to study
collapse under the decoding most self-improvement loops use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from selfimprove.collapse.config import CollapseGenConfig
from selfimprove.errors import UserError
from selfimprove.progress import progress_bar


def _first_id(value: int | list[int] | None) -> int | None:
    return value[0] if isinstance(value, list) and value else value if isinstance(value, int) else None


def _pad_id(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None) -> int:
    """Pad id for left padding. Padded positions are masked and, with a fixed output length, no pad is
    ever emitted, so any valid id works when the model defines none."""
    gen = model.generation_config
    for candidate in (tokenizer.pad_token_id if tokenizer else None, gen.pad_token_id, gen.eos_token_id):
        if _first_id(candidate) is not None:
            return int(_first_id(candidate))
    return 0


def _pad_left(batch: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(b) for b in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, block in enumerate(batch):
        ids[row, width - len(block) :] = torch.as_tensor(list(block), dtype=torch.long)
        mask[row, width - len(block) :] = 1
    return ids.to(device), mask.to(device)


def _decoding_kwargs(config: CollapseGenConfig) -> dict[str, Any]:
    common = {"repetition_penalty": config.repetition_penalty, "num_return_sequences": 1}
    if config.decoding == "beam":
        return {**common, "do_sample": False, "num_beams": config.num_beams}
    return {
        **common,
        "do_sample": True,
        "num_beams": 1,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
    }


def _check_inputs(model: PreTrainedModel, blocks: Sequence[Sequence[int]], config: CollapseGenConfig) -> None:
    if not blocks or any(len(b) == 0 for b in blocks):
        raise UserError("give at least one block, and no empty block, to continue")
    limit = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(b) for b in blocks) + config.new_tokens
    if limit is not None and longest > limit:
        raise UserError(
            f"context + new_tokens = {longest} exceeds the model's max_position_embeddings ({limit}): "
            "use shorter blocks or fewer new_tokens"
        )


def _continue_batch(
    model: PreTrainedModel, batch: Sequence[Sequence[int]], config: CollapseGenConfig, pad_id: int
) -> list[list[int]]:
    ids, mask = _pad_left(batch, pad_id, model.device)
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        min_new_tokens=config.new_tokens,
        max_new_tokens=config.new_tokens,
        pad_token_id=pad_id,
        **_decoding_kwargs(config),
    )
    new = out[:, ids.shape[1] :]
    if new.shape != (len(batch), config.new_tokens):
        expected = (len(batch), config.new_tokens)
        raise RuntimeError(f"generate returned {tuple(new.shape)} new tokens, expected {expected}")
    return new.tolist()


def generate_corpus(
    model: PreTrainedModel,
    blocks: Sequence[Sequence[int]],
    config: CollapseGenConfig,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> list[list[int]]:
    """Continue each real block by exactly `config.new_tokens` tokens; return the continuations, one per
    block and in the same order (the next generation's training blocks)."""
    _check_inputs(model, blocks, config)
    pad_id = _pad_id(model, tokenizer)
    was_training = model.training
    model.eval()
    devices = None if model.device.type == "cuda" else []  # None: fork every CUDA device's RNG
    out: list[list[int]] = []
    try:
        with (
            torch.random.fork_rng(devices=devices),
            torch.no_grad(),
            progress_bar("generating corpus", total=len(blocks), enabled=config.show_progress) as advance,
        ):
            torch.manual_seed(config.seed)
            for start in range(0, len(blocks), config.batch_size):
                batch = blocks[start : start + config.batch_size]
                out.extend(_continue_batch(model, batch, config, pad_id))
                advance(len(batch))
    finally:
        model.train(was_training)
    return out
