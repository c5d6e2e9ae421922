"""Config sections shared by several commands: which task, which model, how to sample."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from selfimprove.config import Section
from selfimprove.types import SamplingParams


class TaskSection(Section):
    name: str = Field("arith", description="Task name (see `selfimprove ls`).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options passed to the task, e.g. {seed: 0, sizes: {test: 200}} for arith or {data_dir: DIR}.",
    )
    shots: int = Field(0, ge=0, description="Number of worked examples (from a training split) before each prompt.")


class ModelSection(Section):
    path: str = Field(..., description="HF checkpoint directory or hub id of the model.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto = float32 on CPU, bfloat16 on CUDA when supported."
    )
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")


class SamplingSection(Section):
    n: int = Field(8, ge=1, description="Samples per prompt.")
    temperature: float = Field(0.75, ge=0.0, description="Sampling temperature (Wu et al. 2024 use 0.75); 0 = greedy.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass (Wu et al. 2024 use 0.95).")
    max_new_tokens: int = Field(96, ge=1, description="Longest completion, in tokens.")
    stop: list[str] = Field(default_factory=list, description="Strings that end a completion (cut before them).")
    batch_size: int = Field(64, ge=1, description="Sequences decoded together by the local sampler.")
    seed: int = Field(0, description="Sampling seed; the same seed gives the same samples.")

    def params(self, greedy: bool = False) -> SamplingParams:
        """SamplingParams for sampled decoding, or for one greedy completion per prompt."""
        if greedy:
            return SamplingParams(1, 0.0, 1.0, self.max_new_tokens, tuple(self.stop), self.seed)
        return SamplingParams(self.n, self.temperature, self.top_p, self.max_new_tokens, tuple(self.stop), self.seed)
