"""Training methods by name: each is one thin adapter over a TRL trainer (train/<method>.py) with its typed
config (`train` plus, where the method has its own hyper-parameters, `train.<method>`).

A recipe names the method of each stage and calls `fit_rows`; the registry imports the adapter (and with it
torch and TRL) only then. Adding a method = its adapter module, its config section, and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from pkgutil import resolve_name
from typing import Any

from selfimprove.errors import UserError
from selfimprove.train.config import TrainSection

# The columns each TRL trainer sees; curated rows also carry problem_id and source.
SFT_COLUMNS = ("prompt", "completion")
DPO_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class Trainer:
    """A training method: the row keys it reads, and `fit`, the dotted path of
    `fit(model, tokenizer, rows: list[dict], cfg: TrainSection, work: Path) -> model`."""

    name: str
    columns: tuple[str, ...]
    fit: str
    about: str


TRAINERS: dict[str, Trainer] = {
    "sft": Trainer("sft", SFT_COLUMNS, "selfimprove.train.sft:train_sft",
                   "supervised fine-tuning on (prompt, completion), loss on completion tokens (TRL SFTTrainer)"),
    "dpo": Trainer("dpo", DPO_COLUMNS, "selfimprove.train.dpo:train_dpo",
                   "DPO on (prompt, chosen, rejected), reference = the starting weights (TRL DPOTrainer); train.dpo"),
    "grpo": Trainer("grpo", ("prompt", "gold", "task"), "selfimprove.train.grpo:train_grpo",
                    "online RL with the task's verifier as the reward (TRL GRPOTrainer, DeepSeekMath); train.grpo"),
    "causal-lm": Trainer("causal-lm", ("input_ids",), "selfimprove.train.causal_lm:train_causal_lm",
                         "next-token loss on every token of pre-tokenized blocks (TRL SFTTrainer; model collapse)"),
}


def get_trainer(name: str) -> Trainer:
    if name not in TRAINERS:
        raise UserError(f"unknown training method {name!r}; known: {', '.join(TRAINERS)}")
    return TRAINERS[name]



def trainer_rows(method: str, rows: list[dict[str, Any]], chat: bool) -> list[dict[str, Any]]:
    """The columns the trainer sees; with model.chat, as conversations, so training renders them through the
    chat template exactly as sampling rendered the prompts (the files keep the task's text)."""
    columns = get_trainer(method).columns
    if chat:
        from selfimprove.train.common import as_conversations

        return as_conversations(rows, columns)
    return [{k: r[k] for k in columns} for r in rows]


def fit_rows(method: str, model: Any, tokenizer: Any, rows: list[dict[str, Any]], cfg: TrainSection, work: Path,
             chat: bool) -> Any:
    """Train `model` with `method` on the rows' trainer columns; returns the trained model."""
    trainer = get_trainer(method)
    return resolve_name(trainer.fit)(model, tokenizer, trainer_rows(method, rows, chat), cfg, work)
