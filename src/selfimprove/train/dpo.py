"""DPO adapter: prompt/chosen/rejected rows -> TRL DPOTrainer (Rafailov et al. 2023).

The loss is TRL's sigmoid DPO loss on completion tokens, with strength `beta` (train.dpo.beta, in
selfimprove.train.dpo_config).
The reference model is the model training starts from (M_{t-1} in iterative DPO) unless one is given;
with LoRA, TRL uses the base weights with the adapter disabled as the reference, holding no second copy.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import DPOConfig, DPOTrainer

from selfimprove.errors import UserError
from selfimprove.train.common import callbacks, peft_config, quiet, trainer_kwargs, trained_model
from selfimprove.train.config import TrainSection
from selfimprove.train.registry import DPO_COLUMNS


def train_dpo(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, Any]],
    cfg: TrainSection,
    work_dir: Path,
    ref_model: PreTrainedModel | None = None,
) -> Any:
    """Train on preference rows {"prompt", "chosen", "rejected"} (other keys are ignored). Returns the
    trained model (LoRA-wrapped when LoRA is on)."""
    if not rows:
        raise UserError("DPO needs at least one (chosen, rejected) pair; none were given")
    if ref_model is None and not cfg.lora.enabled:
        ref_model = copy.deepcopy(model)  # frozen copy of the starting weights: the KL anchor of DPO
    kwargs = trainer_kwargs(cfg, work_dir, model)
    kwargs["learning_rate"] = cfg.dpo.learning_rate or cfg.learning_rate
    if cfg.dpo.nll_weight > 0:  # iterative RPO (Pang et al. 2024): DPO + NLL on the chosen solution
        kwargs |= {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, cfg.dpo.nll_weight]}
    args = DPOConfig(**kwargs, beta=cfg.dpo.beta, max_length=cfg.max_length)
    trainer = DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=Dataset.from_list([{k: row[k] for k in DPO_COLUMNS} for row in rows]),
        processing_class=tokenizer,
        peft_config=peft_config(cfg),
        callbacks=callbacks(cfg),
    )
    quiet(trainer).train()
    return trained_model(trainer)
