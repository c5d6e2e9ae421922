"""The collapse recipe's run config: the shared sections plus `collapse` (selfimprove.collapse.config)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from selfimprove.collapse.config import CollapseSection
from selfimprove.recipes.config import BaseRunConfig
from selfimprove.strategies import LoopSection


class CollapseConfig(BaseRunConfig):
    """Model collapse (Shumailov et al. 2024): generations of recursive training on generated text, in arms."""

    recipe: Literal["collapse"] = Field("collapse", description="Recursive training on generated data.")
    collapse: CollapseSection = Field(
        default_factory=CollapseSection, description="Generations, corpus, blocks, decoding and arms of the recursive "
                                                     "training (selfimprove.collapse.config).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_loop(cls, data: Any) -> Any:
        """Configs written when collapse was `loop.strategy: collapse` (and run directories started then):
        loop.iterations is collapse.generations; any other loop key set away from its default is an error,
        since the recipe never read it."""
        if not isinstance(data, dict) or "loop" not in data:
            return data
        data = dict(data)
        loop = dict(data.pop("loop") or {})
        if loop.pop("strategy", "collapse") != "collapse":
            raise ValueError("the loop section belongs to recipe iterative; recipe collapse has none")
        if loop.get("keep_original"):
            raise ValueError("collapse keeps real data per arm: set collapse.arms[].real_fraction, not keep_original")
        fields = LoopSection.model_fields
        unused = sorted(k for k, v in loop.items() if k != "iterations" and (k not in fields or v != fields[k].default))
        if unused:
            raise ValueError(f"recipe collapse does not read loop.{', loop.'.join(unused)}; remove them")
        section = dict(data.get("collapse") or {})
        if "iterations" in loop:
            if "generations" in section and section["generations"] != loop["iterations"]:
                raise ValueError("loop.iterations is collapse.generations; give only collapse.generations")
            section["generations"] = loop["iterations"]
        data["collapse"] = section
        return data

    def describe(self) -> str:
        return f"recipe collapse, {self.collapse.generations} generations, {len(self.collapse.arms)} arms"
