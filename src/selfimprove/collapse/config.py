"""The `collapse` section of a run config (recipe `collapse`): the generations, the corpus, the blocks, the
decoding of each generation's synthetic corpus, and the arms (fraction of real data kept, epochs) run side by
side.

Shumailov et al. (Nature 2024) run two settings on the same axes: no original data kept, 5 epochs per
generation; and a random 10% of the original data kept, 10 epochs per generation. Those are the default
arms.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selfimprove.config import Section

ARM_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class CollapseGenConfig(BaseModel):
    """How each generation writes its synthetic corpus (paper: 64 new tokens, 5-way beam search)."""

    model_config = ConfigDict(extra="forbid")

    new_tokens: int = Field(64, ge=1, description="B: tokens generated per real block (paper: 64).")
    decoding: Literal["beam", "sample"] = Field(
        "beam", description="'beam': deterministic beam search, as in the paper; 'sample': ancestral sampling."
    )
    num_beams: int = Field(5, ge=1, description="Beams for beam search (paper: 5). Ignored when sampling.")
    repetition_penalty: float = Field(
        3.0, gt=0.0, description="HF repetition penalty (>1 discourages repeats; the paper's code used 3.0)."
    )
    temperature: float = Field(1.0, gt=0.0, description="Sampling temperature (decoding='sample' only).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass (decoding='sample' only).")
    top_k: int = Field(0, ge=0, description="Top-k cut-off, 0 = off (decoding='sample' only).")
    batch_size: int = Field(16, ge=1, description="Blocks continued per model.generate call.")
    seed: int = Field(0, description="Torch seed for sampling (beam search is deterministic).")
    show_progress: bool = Field(True, description="Show a progress bar over batches.")


class CollapseArm(Section):
    """One setting of the recursive training: its own subfolder <run>/<name>/iter_000..iter_G."""

    name: str | None = Field(
        None, pattern=ARM_NAME, description="Subfolder of the arm; default p<real_fraction>-e<epochs>, e.g. p0.1-e10."
    )
    real_fraction: float = Field(
        0.0, ge=0.0, lt=1.0, description="p: fraction of each generation's training blocks that are real blocks, "
                                         "drawn afresh at random every generation (paper: 0 or 0.1).",
    )
    epochs: float = Field(5.0, gt=0, description="Epochs over the training blocks, every generation "
                                                 "(paper: 5 with p=0, 10 with p=0.1).")

    @property
    def dirname(self) -> str:
        return self.name or f"p{self.real_fraction:g}-e{self.epochs:g}"


def _paper_arms() -> list[CollapseArm]:
    return [CollapseArm(real_fraction=0.0, epochs=5), CollapseArm(real_fraction=0.1, epochs=10)]


class CollapseSection(Section):
    """Recursive training on generated data (Shumailov et al. 2024), for recipe `collapse`."""

    generations: int = Field(3, ge=0, description="G: generations 1..G of training on the previous generation's "
                                                 "text, after generation 0 on the real corpus.")

    train_split: str = Field(
        "train", description="Split of the task whose text is the real training corpus (wikitext2: train, or "
                             "valid when the local copy has no train file; arith: improve).",
    )
    test_split: str = Field("test", description="Split whose real text every generation is scored on.")
    block_size: int = Field(64, ge=2, description="B: tokens per block; each generation continues every real "
                                                  "block by B tokens (paper: 64).")
    train_blocks: int | None = Field(None, ge=1, description="Use only the first N real training blocks "
                                                             "(null = the whole split).")
    test_blocks: int | None = Field(None, ge=1, description="Score only the first N real test blocks (null = all).")
    generation: CollapseGenConfig = Field(
        default_factory=CollapseGenConfig,
        description="Decoding of the synthetic corpus: beam search with 5 beams and repetition penalty 3.0 as in "
                    "the paper, or sampling. new_tokens follows block_size.",
    )
    arms: list[CollapseArm] = Field(
        default_factory=_paper_arms, min_length=1,
        description="Settings run one after another into their own subfolders and reported on the same axes.",
    )
    score_batch_size: int = Field(32, ge=1, description="Blocks per forward pass when scoring perplexity.")
    histogram_bins: int = Field(30, ge=1, description="Bins of the per-block perplexity histograms.")
    ngram_orders: list[int] = Field([2, 3], min_length=1, description="n of the distinct n-gram ratios.")
    rare_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="The real corpus's rarest tokens: this fraction of its distinct tokens, "
                                         "least frequent first; their rate in each generated corpus is reported.",
    )
    gmm: bool = Field(True, description="Also run the Gaussian-mixture demonstration (default config, seconds) "
                                        "into <run>/gmm/ for the report.")

    @model_validator(mode="before")
    @classmethod
    def _new_tokens_follow_block_size(cls, data: Any) -> Any:
        """generation.new_tokens is B: filled from block_size; a different explicit value is an error."""
        if not isinstance(data, dict):
            return data
        block = data.get("block_size", cls.model_fields["block_size"].default)
        gen = data.get("generation") or {}
        if isinstance(gen, CollapseGenConfig):
            gen = gen.model_dump()
        if isinstance(gen, dict):
            if gen.get("new_tokens", block) != block:
                raise ValueError(f"generation.new_tokens ({gen['new_tokens']}) must equal block_size ({block}); "
                                 "set block_size only")
            data = {**data, "generation": {**gen, "new_tokens": block}}
        return data

    @model_validator(mode="after")
    def _unique_arms(self) -> CollapseSection:
        names = [a.dirname for a in self.arms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"arms share a folder name: {duplicates}; give each arm its own name")
        if any(re.match(ARM_NAME, n) is None for n in names):
            raise ValueError(f"arm folder names must match {ARM_NAME}: {names}")
        return self
