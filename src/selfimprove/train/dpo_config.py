"""The `train.dpo` section: what only the DPO trainer reads (TRL's DPOConfig pairing; no torch here)."""

from __future__ import annotations

from pydantic import Field

from selfimprove.config import Section


class DPOSection(Section):
    """DPO (Rafailov et al. 2023) hyper-parameters beyond the shared ones of `train`."""

    beta: float = Field(0.1, gt=0, description="DPO beta (strength of the KL anchor to the reference model).")
    learning_rate: float | None = Field(
        None, gt=0, description="Peak learning rate of DPO training (SFT -> DPO runs); null = train.learning_rate."
    )
