"""The judge's config section (no torch import): which template, how many judgments, which model."""

from __future__ import annotations

from pydantic import Field, field_validator

from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.judges import check_template
from selfimprove.sections import ModelSection
from selfimprove.types import SamplingParams

# Templates by name: the paper's additive prompt, and the arith world's compact one (its seed model's).
TEMPLATES = ("additive", "arith")


class JudgeSection(Section):
    template: str = Field(
        "additive", description="additive (Yuan et al. 2024's 5-point prompt), arith (the arith world's compact "
        "judge prompt, the one its seed model learned), or a template text with {prompt} and {response}.",
    )
    repeats: int = Field(3, ge=1, description="Judgments per response, averaged (J; the paper uses 3).")
    temperature: float = Field(0.7, ge=0.0, description="Sampling temperature of the judge (> 0 when repeats > 1).")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus mass of the judge's sampling.")
    max_new_tokens: int = Field(64, ge=1, description="Longest judgment, in tokens (the paper asks for <= 100 words).")
    stop: list[str] = Field(default_factory=list, description="Strings that end a judgment.")
    threshold: float = Field(4.0, ge=0.0, le=5.0,
                             description="Judge accuracy counts `score >= threshold` as the judge calling it correct.")
    model: ModelSection | None = Field(
        None, description="An external judge (a checkpoint, preset or an OpenAI-compatible server with "
        "backend: openai); unset = the model judges itself (M_{t-1}).",
    )

    @field_validator("template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        if value in TEMPLATES:
            return value
        try:
            return check_template(value, f"judge template {value[:40]!r}")
        except UserError as e:
            raise ValueError(str(e)) from None

    def params(self, seed: int) -> SamplingParams:
        return SamplingParams(self.repeats, self.temperature, self.top_p, self.max_new_tokens, tuple(self.stop), seed)
