"""Run configs: the fields every recipe shares (`BaseRunConfig`) and the iterative loop's (`IterativeConfig`).

`selfimprove run CONFIG` reads the top-level `recipe` key (default iterative), builds that recipe's config
class from the file (selfimprove.recipes) and calls its run function. A recipe with its own sections has its
own config class in recipes/<name>_config.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from selfimprove.config import Section
from selfimprove.sections import ModelSection, SamplingSection, TaskSection
from selfimprove.strategies import LoopSection
from selfimprove.suites.config import EvalSuitesSection
from selfimprove.train.config import TrainSection
from selfimprove.verdict import VerdictConfig

RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class BaseRunConfig(Section):
    """A run of any recipe: the starting checkpoint, the task, and the sections every recipe reads."""

    recipe: str = Field("iterative", description="Which kind of run (see `selfimprove ls`): iterative, collapse, ...")
    name: str = Field("run", pattern=RUN_NAME, description="Run name; the run directory is <out>/<name>.")
    out: str = Field("runs", description="Folder that holds run directories.")
    seed: int = Field(0, description="Run seed: each stage's seed derives from (seed, iteration, stage).")
    task: TaskSection = Field(default_factory=TaskSection, description="Which task and how to prompt it.")
    model: ModelSection = Field(..., description="The starting model M_0: any HF checkpoint directory or hub id.")
    sampling: SamplingSection = Field(
        default_factory=SamplingSection, description="How improvement problems are sampled (N = sampling.n); "
                                                     "evaluation samples use the same temperature and top-p.",
    )
    eval: EvalSuitesSection = Field(default_factory=EvalSuitesSection,
                                    description="What is evaluated after each iteration: splits, then suites.")
    train: TrainSection = Field(default_factory=TrainSection, description="Trainer hyper-parameters (train.dpo: DPO's).")
    verdict: VerdictConfig = Field(default_factory=VerdictConfig, description="Thresholds of the final verdict.")

    @model_validator(mode="after")
    def _trainable(self) -> BaseRunConfig:
        """A run fine-tunes its model, so it needs the weights here: a served model cannot be trained."""
        if self.model.backend != "hf":
            raise ValueError("model.backend must be hf for a run: the loop trains the model, so it needs local "
                             "weights (a checkpoint, hub id or preset); evaluate a served model with "
                             "`selfimprove eval --backend openai` instead")
        return self

    def describe(self) -> str:
        """What kind of run this is, in a few words (the first line `selfimprove run` prints)."""
        return f"recipe {self.recipe}"


class IterativeConfig(BaseRunConfig):
    """The iterative self-improvement loop: sample, verify, curate, train, evaluate for T iterations."""

    recipe: Literal["iterative"] = Field("iterative", description="The iterative loop (strategies: loop.strategy).")
    loop: LoopSection = Field(default_factory=LoopSection, description="Iterations, strategy, curation, mixing.")

    @model_validator(mode="before")
    @classmethod
    def _collapse_moved(cls, data: Any) -> Any:
        loop = data.get("loop") if isinstance(data, dict) else None
        if isinstance(loop, dict) and loop.get("strategy") == "collapse":
            raise ValueError("collapse is a recipe of its own, not a loop strategy: write `recipe: collapse`, "
                             "move loop.iterations to collapse.generations and drop the loop section")
        return data

    @model_validator(mode="after")
    def _monitor_held_out(self) -> IterativeConfig:
        monitor = self.eval.perplexity.split or (self.eval.splits[0] if self.eval.splits else None)
        if self.loop.keep_original > 0 and self.eval.perplexity.enabled and monitor == self.loop.seed_split:
            raise ValueError(f"eval.perplexity scores split {monitor!r}, which keep_original trains on; "
                             "set eval.perplexity.split to a held-out split")
        return self

    def describe(self) -> str:
        return f"strategy {self.loop.strategy}, {self.loop.iterations} iterations"
