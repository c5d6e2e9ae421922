"""Config of the self-rewarding recipe (no torch import): where prompts come from, how candidates are judged
and paired. Candidates are sampled with the run's `sampling` section (the paper: N = 4, T = 0.7, top-p 0.9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfimprove.config import Section
from selfimprove.judges.config import JudgeSection
from selfimprove.recipes.config import BaseRunConfig


class PromptSection(Section):
    source: Literal["self-instruct", "split"] = Field(
        "self-instruct", description="self-instruct = the model writes new prompts few-shot from the seed split's "
        "questions (Yuan et al. 2024, Sec. 2.2); split = take the prompts of `split` as they are (a control, and "
        "the way to keep ground truth on tasks whose new questions nobody can answer).",
    )
    split: str = Field("seed", description="The seed prompts (self-instruct) or the prompts themselves (split).")
    seed_limit: int = Field(200, ge=1, description="How many problems of `split` are read.")
    count: int = Field(64, ge=1, description="Prompts generated (self-instruct) or taken (split) per iteration.")
    shots: int = Field(8, ge=1, description="Seed questions shown in each few-shot prompt (the paper: 8).")
    temperature: float = Field(0.6, gt=0.0, description="Sampling temperature of prompt generation (the paper: 0.6).")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus mass of prompt generation (the paper: 0.9).")
    max_new_tokens: int = Field(64, ge=1, description="Longest generated question, in tokens.")


class SelfRewardingSection(Section):
    iterations: int = Field(3, ge=1, description="Iterations T: M_1..M_T (the paper: 3).")
    prompts: PromptSection = Field(default_factory=PromptSection, description="Where each iteration's prompts come from.")
    judge: JudgeSection = Field(default_factory=JudgeSection, description="The judge: template, J, model.")
    length_epsilon: float = Field(
        0.0, ge=0.0, description="Length control: chosen = the shortest response scored within epsilon of the best, "
        "rejected = the longest within epsilon of the worst (Wu et al. 2024, Meta-Rewarding); 0 = plain best vs worst.",
    )
    truth: bool = Field(
        True, description="Grade every candidate against the gold answer and report judge-vs-truth metrics; "
        "needs a task with ground truth.",
    )


class SelfRewardingConfig(BaseRunConfig):
    """Self-rewarding language models (Yuan et al. 2024): self-instruct, self-judge, DPO on best-vs-worst pairs."""

    recipe: Literal["self-rewarding"] = Field("self-rewarding", description="The self-rewarding recipe.")
    self_rewarding: SelfRewardingSection = Field(
        default_factory=SelfRewardingSection, description="Prompts, judge and pairs of each iteration.",
    )

    def describe(self) -> str:
        judge = "external judge" if self.self_rewarding.judge.model else "self-judged"
        return f"self-rewarding, {self.self_rewarding.iterations} iterations, {judge}"
