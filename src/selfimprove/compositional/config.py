"""Options of the Compositional GSM builder (Hosseini et al. 2024, Sec. 2)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BuildConfig(BaseModel):
    """How pairs (Q1, Q2) are drawn and which substitutions are kept. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(
        default=0, description="Seed of the random order of Q2s, of the Q1s drawn and of the number replaced."
    )
    num_pairs: int | None = Field(
        default=1200,
        ge=1,
        description="Stop after this many pairs (the paper's test set has 1200); null builds as many as possible.",
    )
    max_relative_change: float = Field(
        default=1.0,
        gt=0,
        description="Reject a pair when |new Q2 answer - original| / original exceeds this (the paper keeps new "
        "answers 'not too far from the old answer of Question-2').",
    )
    max_attempts_per_q2: int = Field(
        default=50,
        ge=1,
        description="Draws of (Q1, number to replace) tried for one Q2 before moving on to the next Q2.",
    )
    require_integer_steps: bool = Field(
        default=True,
        description="Reject a pair when a step whose original result was a whole number no longer is (half a person).",
    )
    require_nonnegative_steps: bool = Field(
        default=True, description="Reject a pair when a step whose original result was not negative becomes negative."
    )
