"""Config of the `stop` recipe: the fields every run shares plus the `stop` section (no torch import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selfimprove.recipes.config import BaseRunConfig
from selfimprove.stop.config import StopSection


class StopConfig(BaseRunConfig):
    """STOP (Zelikman et al. 2024): the model is never trained; task, train, eval and verdict are unused."""

    recipe: Literal["stop"] = Field("stop", description="The self-taught optimizer (section stop).")
    stop: StopSection = Field(
        default_factory=StopSection,
        description="Seed improver, tasks and transfer tasks, rounds, budgets, instance halves (Zelikman et al. 2024).",
    )

    @model_validator(mode="after")
    def _trainable(self) -> StopConfig:
        """Overrides the run's check for local weights: STOP only samples, so a served model is fine."""
        return self

    def describe(self) -> str:
        return (f"STOP ({self.stop.language}), {self.stop.rounds} rounds, tasks {', '.join(self.stop.tasks)}, "
                f"transfer {', '.join(self.stop.transfer_tasks) or 'none'}")
