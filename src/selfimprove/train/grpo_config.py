"""Config of the GRPO trainer (train/grpo.py); imports no torch, so configs load fast."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfimprove.config import Section


class GRPOSection(Section):
    """Online RL with verifiable rewards: GRPO (Shao et al. 2024, DeepSeekMath, Sec. 4.1) through TRL's
    GRPOTrainer, the task's verifier as the reward."""

    prompts_per_step: int = Field(8, ge=1, description="Problems per optimizer step; each gets `num_generations` samples.")
    num_generations: int = Field(8, ge=2, description="G: samples per problem; advantages are normalized within the group.")
    max_completion_length: int = Field(96, ge=1, description="Longest sampled completion, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus mass of the rollouts.")
    beta: float = Field(0.04, ge=0, description="KL coefficient to the reference model (DeepSeekMath uses 0.04; 0 = no "
                                                "reference model and no KL term).")
    epsilon: float = Field(0.2, gt=0, description="Clipping range of the importance ratio (PPO/GRPO ε).")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field(
        "dapo", description="How token losses are aggregated (TRL's loss_type): grpo = per-sequence mean (the paper's "
        "Eq. 3), dapo = over all tokens of the batch (no length bias), dr_grpo = over a constant.")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Divide advantages by the reward std of the group (the paper), of the batch, or not at all "
        "(Dr. GRPO).")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate of GRPO; null = train.learning_rate.")
