"""SFT adapter: prompt/completion rows -> TRL SFTTrainer with completion-only loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import SFTConfig, SFTTrainer

from selfimprove.train.common import callbacks, peft_config, quiet, trainer_kwargs, trained_model
from selfimprove.train.config import TrainSection


def train_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, str]],
    cfg: TrainSection,
    work_dir: Path,
) -> Any:
    """Fine-tune on rows {"prompt", "completion"}; the loss covers completion tokens only (TRL's default for
    prompt-completion data). Returns the trained model (LoRA-wrapped when LoRA is on)."""
    args = SFTConfig(**trainer_kwargs(cfg, work_dir, model), max_length=cfg.max_length, completion_only_loss=True)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config(cfg),
        callbacks=callbacks(cfg),
    )
    quiet(trainer).train()
    return trained_model(trainer)
