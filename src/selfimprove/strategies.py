"""Strategies of the iterative recipe: named, documented choices of what each iteration trains on.

Every strategy runs the same loop (recipes/iterative.py): sample N completions per improvement problem from M_{t-1},
verify them against the gold answer, curate a training set, train M_t, evaluate. They differ in the
curation and the trainer of each iteration:

    sft      iterative SFT on verified-correct samples: rejection-sampling fine-tuning (RFT, Yuan et al.
             2023), the iterative SFT of Wu et al. 2024 ("Progress or Regress?"); with restart_from_base and
             max_per_problem=10 it is ReST-EM (Singh et al. 2023, "Beyond Human Data").
    star     STaR (Zelikman et al. 2022): `sft`, plus rationalization: a problem with no correct sample is
             prompted again with the gold answer as a hint; a rationale that reaches the answer is kept and
             trained on with the hint removed from its prompt. STaR restarts from the base model.
    dpo      iterative DPO (Wu et al. 2024; Pang et al. 2024): (correct, incorrect) pairs of the same
             problem's samples; the reference model is M_{t-1}; TRL's DPOTrainer.
    sft-dpo  one SFT iteration, then DPO iterations (Wu et al. 2024's SFT->DPO); `schedule` sets the
             order, e.g. [sft, dpo, dpo].
    grpo     online RL with verifiable rewards (Shao et al. 2024, DeepSeekMath; TRL's GRPOTrainer): each step
             samples a group of completions per improve problem from the current model and rewards those the
             task verifies; the iteration's samples are still drawn, as diagnostics of M_{t-1}. Token entropy and
             reward per step go to train_steps.jsonl (entropy collapse precedes the plateau, Cui et al. 2025).
             With the boundary section it runs Yue et al. 2025's question: does RL narrow the solvable set?
    gold     the control arm: SFT on the improve split's reference solutions (the labels every other
             strategy does without), continuing from M_{t-1}. It bounds what self-improvement on that split
             can reach with the same trainer, so a strategy's gain reads as a share of the gold gain.

Data mixing (all strategies): `replace` trains on this iteration's data only, `accumulate` on the data of
all iterations so far (of the same method), and `keep_original` mixes a fresh random fraction p of the
labeled seed split into each SFT iteration (as in the model-collapse experiments of Shumailov et al. 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from selfimprove.config import Section
from selfimprove.errors import UserError

Method = Literal["sft", "dpo", "grpo"]
StrategyName = Literal["sft", "star", "dpo", "sft-dpo", "grpo", "gold"]


@dataclass(frozen=True)
class Strategy:
    """A strategy: its name, a one-line description, whether it rationalizes (STaR), its trainer, and whether it
    trains on the reference solutions instead of its own samples (the gold control)."""

    name: str
    about: str
    rationalize: bool
    method: Method | None  # None: the schedule decides per iteration (sft-dpo)
    reference: bool = False


STRATEGIES: dict[str, Strategy] = {
    "sft": Strategy("sft", "iterative SFT on verified-correct samples (RFT; ReST-EM with restart_from_base, "
                           "max_per_problem=10)", False, "sft"),
    "star": Strategy("star", "STaR: iterative SFT plus rationalization of unsolved problems with the gold "
                             "answer as a hint (removed before training)", True, "sft"),
    "dpo": Strategy("dpo", "iterative DPO on (correct, incorrect) sample pairs, reference model M_{t-1}",
                    False, "dpo"),
    "sft-dpo": Strategy("sft-dpo", "one SFT iteration, then DPO iterations (loop.schedule, e.g. sft, dpo, dpo)",
                        False, None),
    "grpo": Strategy("grpo", "online RL with verifiable rewards: GRPO on the improve problems, the task's verifier "
                             "as the reward (DeepSeekMath; TRL GRPOTrainer; train.grpo)", False, "grpo"),
    "gold": Strategy("gold", "control arm: SFT on the improve split's reference solutions (an upper bound for "
                             "self-improvement on that split with the same trainer)", False, "sft", reference=True),
}


class LoopSection(Section):
    """How the loop runs: how many iterations, which strategy, and how it curates and mixes data."""

    strategy: StrategyName = Field(
        "sft", description="sft, star, dpo, sft-dpo, grpo or gold (see `selfimprove ls`).")
    iterations: int = Field(3, ge=0, description="T: iterations of sample -> verify -> curate -> train -> evaluate.")
    schedule: list[Method] | None = Field(
        None, description="sft-dpo only: the trainer of each iteration, e.g. [sft, dpo, dpo] "
                          "(default: sft first, then dpo); its length must equal iterations.",
    )
    improve_split: str = Field("improve", description="Split whose problems are sampled and trained on.")
    improve_limit: int | None = Field(None, ge=1, description="Use only the first N problems of the improve split.")
    seed_split: str = Field("seed", description="Labeled split that keep_original mixes in (reference solutions).")
    seed_limit: int | None = Field(None, ge=1, description="keep_original draws from the first N seed problems only.")
    max_per_problem: int | None = Field(
        None, ge=1, description="SFT: keep at most K correct samples per problem (ReST-EM uses 10); null = all.",
    )
    dedupe: bool = Field(True, description="Drop exact duplicate completions of a problem before capping/pairing.")
    require_valid_steps: bool = Field(
        False, description="Drop correct-answer samples whose step check found a wrong step (right answer, wrong "
                           "reasoning) from the training rows; samples with nothing checked are kept. Only tasks "
                           "with a step check (arith, gsm8k, math) have such samples.",
    )
    restart_from_base: bool = Field(
        False, description="SFT: train each M_t from the starting model (ReST-EM, STaR) instead of continuing "
                           "from M_{t-1} (Wu et al. 2024). Sampling always uses M_{t-1}.",
    )
    pairs_per_problem: int = Field(1, ge=1, description="DPO: (correct, incorrect) pairs per problem, at most.")
    mixing: Literal["replace", "accumulate"] = Field(
        "replace", description="replace: train on this iteration's data; accumulate: on all iterations' so far.",
    )
    keep_original: float = Field(
        0.0, ge=0.0, le=1.0, description="SFT: mix a fresh random fraction p of the labeled seed split into "
                                         "each iteration's training rows (0 = none).",
    )
    hint: str = Field(
        " (Hint: the answer is {gold}.)",
        description="STaR: hint added to an unsolved problem's question ({gold} = the gold answer); the rationale "
                    "is trained on without it.",
    )
    rationalize_samples: int = Field(1, ge=1, description="STaR: samples per unsolved problem with the hint.")

    @model_validator(mode="after")
    def _consistent(self) -> LoopSection:
        """Reject options that the chosen strategy would silently ignore."""
        methods = set(methods_of(self))
        if self.schedule is not None and self.strategy != "sft-dpo":
            raise ValueError(f"schedule is for strategy sft-dpo; strategy {self.strategy!r} has a fixed trainer")
        if self.schedule is not None and len(self.schedule) != self.iterations:
            raise ValueError(f"schedule has {len(self.schedule)} entries but iterations is {self.iterations}")
        if self.restart_from_base and "dpo" in methods:
            raise ValueError("restart_from_base applies to SFT-only strategies (sft, star); DPO continues from M_{t-1}")
        if self.keep_original > 0 and "sft" not in methods:
            raise ValueError("keep_original mixes labeled solutions into SFT iterations; this run has none")
        if "{gold}" not in self.hint:
            raise ValueError("hint must contain {gold}, where the gold answer goes")
        return self


def methods_of(loop: LoopSection) -> list[Method]:
    """The trainer of each iteration 1..T."""
    strategy = STRATEGIES[loop.strategy]
    if strategy.method is not None:
        return [strategy.method] * loop.iterations
    if loop.schedule is not None:
        return list(loop.schedule)
    return (["sft"] + ["dpo"] * (loop.iterations - 1))[: loop.iterations]  # type: ignore[return-value]


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
