"""The SCoRe recipe's run config: the shared sections plus `score` (arms, step budgets, the trainer's section)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from selfimprove.config import Section
from selfimprove.recipes.config import BaseRunConfig
from selfimprove.train.score_config import SCoReSection

Arm = Literal["base", "self-refine", "single-turn-rl", "star", "pair-sft", "score-stage1", "score"]
ARMS: tuple[Arm, ...] = ("base", "self-refine", "single-turn-rl", "star", "pair-sft", "score-stage1", "score")


class ScoreSection(Section):
    """Which arms run, on which problems, for how many steps (Kumar et al. 2024, Sec. 5 and Table 2)."""

    arms: list[Arm] = Field(
        default_factory=lambda: list(ARMS),
        description="Arms, evaluated with two attempts each: base (the starting model), self-refine (prompting "
        "only: feedback, then refine), single-turn-rl (RL on first attempts), star (SFT on successful correction "
        "traces), pair-sft (SFT on (wrong, right) repair pairs), score-stage1 (Stage I alone), score (Stage I "
        "then Stage II).",
    )
    train_split: str = Field("improve", description="Split whose problems (and gold answers) the arms train on.")
    train_problems: int | None = Field(None, ge=1, description="Use only the first N problems of train_split.")
    stage1_steps: int = Field(20, ge=1, description="Optimizer steps of Stage I.")
    stage2_steps: int = Field(20, ge=1, description="Optimizer steps of Stage II (from the Stage I model).")
    rl_steps: int | None = Field(None, ge=1, description="Steps of single-turn RL; null = stage1_steps + stage2_steps "
                                                         "(the same number of updates as SCoRe).")
    traces_per_problem: int = Field(4, ge=1, description="STaR: sampled two-attempt episodes per problem, of which "
                                                         "the successful corrections (wrong, then right) are kept.")
    trainer: SCoReSection = Field(default_factory=SCoReSection, description="The RL trainer (train/score.py).")


class ScoreConfig(BaseRunConfig):
    """SCoRe: two-attempt self-correction trained by multi-turn RL, with its baselines, all evaluated alike."""

    recipe: Literal["score"] = Field("score", description="Self-correction by RL (Kumar et al. 2024).")
    score: ScoreSection = Field(default_factory=ScoreSection, description="Arms, problems and step budgets.")

    @model_validator(mode="before")
    @classmethod
    def _two_attempts_by_default(cls, data: Any) -> Any:
        """Every arm is measured by its two-attempt episodes: eval.attempts defaults to 2 here."""
        if isinstance(data, dict) and isinstance(data.get("eval", {}), dict):
            data = {**data, "eval": {"attempts": 2, **data.get("eval", {})}}
        return data

    @model_validator(mode="after")
    def _arms(self) -> ScoreConfig:
        if self.eval.attempts != 2:
            raise ValueError(f"recipe score evaluates two attempts per problem; eval.attempts is {self.eval.attempts}")
        arms = self.score.arms
        if "base" not in arms:
            raise ValueError("score.arms must include base: every arm is compared with the starting model")
        if "score" in arms and "score-stage1" not in arms:
            raise ValueError("arm score (Stage II) starts from Stage I: add score-stage1 to score.arms")
        if len(set(arms)) != len(arms):
            raise ValueError("score.arms names an arm twice")
        self.score.arms = [a for a in ARMS if a in arms]  # the order stages run in
        return self

    def describe(self) -> str:
        return f"recipe score, arms {', '.join(self.score.arms)}"
