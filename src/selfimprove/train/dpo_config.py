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
    nll_weight: float = Field(
        0.0, ge=0, description="Weight of a negative log-likelihood term on the chosen solution added to the DPO "
        "loss (Pang et al. 2024, iterative RPO: DPO alone can lower the likelihood of right solutions too); "
        "0 = plain DPO. TRL's loss_type [sigmoid, sft] with loss_weights [1, nll_weight].")
