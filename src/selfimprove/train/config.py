"""Training hyper-parameters shared by every trainer (selfimprove.train.registry), plus one section per method
that has its own (TRL's <method>_config pairing: `train.dpo`). No torch here: run configs import this."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from selfimprove.config import Section
from selfimprove.train.dpo_config import DPOSection
from selfimprove.train.grpo_config import GRPOSection

# Keys of older configs that moved into `train.dpo` (still accepted, read as the new ones).
MOVED = {"dpo_beta": "beta", "dpo_learning_rate": "learning_rate"}


class LoraSection(Section):
    enabled: bool = Field(False, description="Train LoRA adapters (PEFT) instead of all weights; merged on save.")
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout.")
    target_modules: list[str] | str = Field("all-linear", description="Modules to adapt ('all-linear' or names).")


class TrainSection(Section):
    learning_rate: float = Field(1e-4, gt=0, description="Peak learning rate.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training rows (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 = use epochs.")

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, value: int) -> int:
        """transformers reads any value <= 0 as 'use epochs': only -1 says that on purpose."""
        if value != -1 and value < 1:
            raise ValueError("must be a positive number of steps, or -1 to train for `epochs` passes")
        return value
    max_time_s: float | None = Field(None, gt=0, description="Stop training after this many seconds (wall clock).")
    batch_size: int = Field(32, ge=1, description="Rows per device per optimizer step.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps with linear warm-up.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (linear, cosine, constant, ...).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_length: int = Field(512, ge=8, description="Longest tokenized training row; longer rows are truncated.")
    seed: int = Field(0, description="Training seed (data order, dropout, init of new weights).")
    logging_steps: int = Field(10, ge=1, description="Log the loss every this many steps.")
    report_to: list[str] = Field(
        default_factory=list,
        description="Trainer logging integrations (tensorboard, mlflow, wandb); empty = none, nothing needs a network.",
    )
    lora: LoraSection = Field(default_factory=LoraSection, description="LoRA through PEFT.")
    launcher: Literal["inprocess", "accelerate"] = Field(
        "inprocess", description="inprocess = train in the run's own process (one device); accelerate = the train "
        "stage runs under `accelerate launch` (DDP on several GPUs or CPU processes; FSDP or DeepSpeed ZeRO on GPUs), "
        "batch_size rows per process.",
    )
    accelerate_config: str | None = Field(
        None, description="accelerate config file for launcher=accelerate (num_processes, distributed type, mixed "
        "precision; see `accelerate config`); unset = accelerate's default config.",
    )
    dpo: DPOSection = Field(default_factory=DPOSection, description="DPO only: beta and its own learning rate.")
    grpo: GRPOSection = Field(default_factory=GRPOSection, description="GRPO (online RL on the task's verifier).")

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """train.dpo_beta / train.dpo_learning_rate (older configs and run directories) are read as
        train.dpo.beta / train.dpo.learning_rate; giving both spellings of one is an error."""
        if not isinstance(data, dict) or not MOVED.keys() & data.keys():
            return data
        data = dict(data)
        dpo = dict(data.get("dpo") or {})
        for old, new in MOVED.items():
            if old in data:
                if new in dpo:
                    raise ValueError(f"train.{old} moved to train.dpo.{new}; give only train.dpo.{new}")
                dpo[new] = data.pop(old)
        data["dpo"] = dpo
        return data
