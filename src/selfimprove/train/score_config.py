"""Config of the SCoRe trainer (train/score.py); imports no torch, so configs load fast."""

from __future__ import annotations

from pydantic import Field

from selfimprove.config import Section


class SCoReSection(Section):
    """Multi-turn on-policy RL for self-correction (Kumar et al. 2024, SCoRe, Sec. 5): rollouts of two attempts,
    REINFORCE with a batch-mean baseline, KL to the starting model per attempt."""

    prompts_per_step: int = Field(16, ge=1, description="Problems per optimizer step (one two-attempt episode each).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of both attempts during training.")
    max_new_tokens: int = Field(96, ge=1, description="Longest attempt, in tokens.")
    alpha: float = Field(10.0, ge=0, description="α of Stage II's shaped bonus α·(r2 − r1) on the second attempt "
                                                 "(the paper uses 10).")
    beta1: float = Field(0.01, ge=0, description="β1: KL coefficient of both attempts in Stage II (the paper uses "
                                                 "0.01).")
    beta2_factor: float = Field(10.0, gt=0, description="Stage I's KL on the first attempt is β2 = beta2_factor·β1 "
                                                        "(the paper: β2 = 10·β1).")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate (constant).")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradients are clipped to this norm.")
