"""Trainer `causal-lm`: language-model fine-tuning on token blocks (the training step of every collapse generation).

Shumailov et al. (Nature 2024) fine-tune a causal LM on 64-token blocks of WikiText-2 (generation 0) or of
the previous generation's output (generation g >= 1) with the plain next-token loss over the whole block.
The blocks are token ids already (a synthetic block is what the model generated, token for token), so they
go to TRL's SFTTrainer as a pre-tokenized dataset (`input_ids` column: TRL skips its own tokenization and
EOS handling) with the loss on every token, never decoded and re-tokenized.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import SFTConfig, SFTTrainer

from selfimprove.errors import UserError
from selfimprove.train.common import callbacks, peft_config, quiet, trainer_kwargs, trained_model
from selfimprove.train.config import TrainSection


def train_causal_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    cfg: TrainSection,
    work_dir: Path,
) -> Any:
    """Fine-tune `model` on rows {"input_ids": [token ids]} with the causal-LM loss on all tokens; returns the
    trained model (LoRA-wrapped when LoRA is on; `save_model` merges it)."""
    blocks = [row["input_ids"] for row in rows]
    if not blocks:
        raise UserError("no training blocks: the corpus is empty")
    longest = max(len(b) for b in blocks)
    if longest > cfg.max_length:
        raise UserError(f"blocks of {longest} tokens exceed train.max_length={cfg.max_length}; raise max_length")
    args = SFTConfig(
        **trainer_kwargs(cfg, work_dir, model), max_length=cfg.max_length, completion_only_loss=False,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"input_ids": [list(map(int, b)) for b in blocks]}),
        processing_class=tokenizer,
        peft_config=peft_config(cfg),
        callbacks=callbacks(cfg),
    )
    quiet(trainer).train()
    return trained_model(trainer)
