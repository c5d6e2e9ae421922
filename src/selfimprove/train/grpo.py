"""GRPO adapter: prompt/gold rows -> TRL GRPOTrainer, the task's own verifier as the reward (RL with verifiable
rewards: Shao et al. 2024, DeepSeekMath, Sec. 4.1; Lambert et al. 2024, Tülu 3 RLVR).

Each step samples `num_generations` completions per problem from the current model, scores each 1.0 when
`task.verify` accepts its strictly extracted answer and 0.0 otherwise, and takes TRL's clipped policy-gradient
step on the group-normalized advantages, with a KL term to the starting model when `beta > 0`. Every logged
step (reward, its std, KL, token entropy, completion length) is appended to `steps.jsonl` in the work folder:
entropy collapse precedes the plateau of RL on verifiable rewards (Cui et al. 2025, arXiv 2505.22617).

Rows carry `prompt`, `gold` and `task` (train/rewards.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from selfimprove.errors import UserError
from selfimprove.train.common import callbacks, peft_config, quiet, trainer_kwargs, trained_model
from selfimprove.train.config import TrainSection
from selfimprove.train.rewards import RL_COLUMNS, verified_reward

# What each logged step keeps (TRL's metric names; entropy is the mean token entropy of the sampled completions).
LOGGED = ("loss", "reward", "reward_std", "kl", "entropy", "completions/mean_length", "learning_rate")


class StepLog(TrainerCallback):
    """Append each logged step's GRPO metrics to a JSON-lines file (one line per logging step). Under a
    multi-process launch every process gets `on_log`; only the main one writes, so a step is one line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
        if not logs or "reward" not in logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, **{k: logs[k] for k in LOGGED if k in logs}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def grpo_config(cfg: TrainSection, work: Path, model: PreTrainedModel) -> GRPOConfig:
    """TRL's GRPOConfig from the shared training fields and the `grpo` section."""
    g = cfg.grpo
    kwargs = trainer_kwargs(cfg, work, model)
    kwargs["learning_rate"] = g.learning_rate or cfg.learning_rate
    kwargs["per_device_train_batch_size"] = g.prompts_per_step * g.num_generations  # completions per step
    return GRPOConfig(
        **kwargs, num_generations=g.num_generations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, top_p=g.top_p, beta=g.beta, epsilon=g.epsilon, loss_type=g.loss_type,
        scale_rewards=g.scale_rewards, shuffle_dataset=True, log_completions=False,
    )


def anchor_reference(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """TRL loads GRPO's reference model (the KL anchor) from the policy's checkpoint path; a model that has none
    on disk (built or changed in memory) is saved first, so the anchor is exactly the starting weights."""
    if (Path(str(model.config.name_or_path)) / "config.json").is_file():
        return
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.config.name_or_path = str(folder)


def train_grpo(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]],
               cfg: TrainSection, work: Path) -> Any:
    """Train on rows {"prompt", "gold", "task"} with GRPO; per-step metrics go to `work/steps.jsonl`. Returns
    the trained model (LoRA-wrapped when LoRA is on)."""
    if not rows:
        raise UserError("GRPO needs at least one problem; none were given")
    if tokenizer.pad_token is None:
        raise UserError("GRPO batches prompts of different lengths; the tokenizer needs a pad token")
    if cfg.grpo.beta > 0 and not cfg.lora.enabled:
        anchor_reference(model, tokenizer, work / "reference")
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=verified_reward,
        args=grpo_config(cfg, work, model),
        train_dataset=Dataset.from_list([{k: row[k] for k in RL_COLUMNS} for row in rows]),
        processing_class=tokenizer,
        peft_config=peft_config(cfg),
        callbacks=[*callbacks(cfg), StepLog(work / "steps.jsonl")],
    )
    quiet(trainer).train()
    return trained_model(trainer)
