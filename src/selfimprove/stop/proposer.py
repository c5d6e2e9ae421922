"""The tiny proposer of the embedded default: a standard HF Llama (selfimprove.tiny.model, sized down)
trained with TRL's SFTTrainer (selfimprove.train.sft, completion-only loss) on the world's ground-truth
corpus (selfimprove.stop.proposer_corpus) to answer a scaffold prompt -- a program's settings line -- with
a proposed settings line. Its tokenizer is a word-level one over the scaffold language (a token per knob
name, number and symbol), saved as a `PreTrainedTokenizerFast` so the run's sampler loads it like any
checkpoint. `ensure_proposer` trains it when the run's model.path holds no checkpoint (a minute or so on
one core) and records the measured ground truth and the corpus size in proposer.json beside the weights.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from selfimprove.config import Section
from selfimprove.sandbox import SandboxConfig
from selfimprove.stop import scaffold

PIECE = r"[A-Za-z_]+|[0-9]+|[^\sA-Za-z0-9_]|\n| "
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
HEADS = 4  # the proposer's attention heads; its width must be a multiple of them


class ProposerSection(Section):
    """How the tiny proposer is trained when model.path holds no checkpoint (language: scaffold)."""

    steps: int = Field(300, ge=1, description="Training steps (batches of 32 rows) of the proposer.")
    ground_truth_instances: int = Field(
        8, ge=1, description="Train-stream instances per task on which every settings point is measured "
                             "(never the validation or test halves).")
    rows_per_point: int = Field(8, ge=1, description="Corpus rows per settings point of a measured task kind "
                                                     "(half as many for the improver kind's neighbour moves).")
    hidden_size: int = Field(64, ge=16, multiple_of=HEADS,
                             description=f"Width of the proposer's residual stream (a multiple of its {HEADS} heads).")
    layers: int = Field(2, ge=1, description="Transformer blocks of the proposer.")


def vocabulary() -> list[str]:
    """Every piece of every valid prompt and completion of the scaffold language."""
    texts = [scaffold.prompt(scaffold.line(s)) for k in scaffold.kinds().values() for s in k.grid()[:1]]
    texts += [" " + scaffold.line(s) for k in scaffold.kinds().values() for s in k.grid()]
    return sorted({p for text in texts for p in re.findall(PIECE, text)})


def build_tokenizer() -> Any:
    """A word-level tokenizer over the scaffold language (unknown text -> <unk>)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", padding_side="left", clean_up_tokenization_spaces=False)


def train_proposer(out: Path, cfg: ProposerSection, sandbox: SandboxConfig, seed: int = 0) -> dict[str, Any]:
    """Measure the ground truth, build the corpus, train the proposer and save it to `out` (written in a
    hidden sibling folder and renamed into place); returns what proposer.json records."""
    from selfimprove.jsonl import write_atomic
    from selfimprove.rundir import replace_dir, scratch_beside
    from selfimprove.stop.proposer_corpus import corpus, ground_truth
    from selfimprove.tiny.model import TinyModelSection, build_model
    from selfimprove.train.common import save_model
    from selfimprove.train.config import TrainSection
    from selfimprove.train.sft import train_sft

    start = time.monotonic()
    tables = ground_truth(cfg.ground_truth_instances, seed, sandbox)
    rows = corpus(tables, cfg.rows_per_point, seed)
    measured = time.monotonic() - start
    tokenizer = build_tokenizer()
    arch = TinyModelSection(hidden_size=cfg.hidden_size, layers=cfg.layers, heads=HEADS,
                            intermediate_size=4 * cfg.hidden_size, max_positions=128)
    model = build_model(tokenizer, arch, seed=seed)
    train = TrainSection(learning_rate=3e-3, batch_size=32, max_steps=cfg.steps, warmup_ratio=0.05,
                         logging_steps=max(1, cfg.steps // 4), seed=seed)
    with scratch_beside(out, "proposer") as work:
        trained = train_sft(model, tokenizer, rows, train, work / "trainer")
        save_model(trained, tokenizer, work / "model")
        record = {"rows": len(rows), "steps": cfg.steps, "measure_seconds": round(measured, 1),
                  "train_seconds": round(time.monotonic() - start - measured, 1), "ground_truth": tables,
                  "settings": cfg.model_dump()}
        write_atomic(work / "model" / "proposer.json", json.dumps(record, indent=1))
        replace_dir(work / "model", out)
    return record


def ensure_proposer(path: str, cfg: ProposerSection, sandbox: SandboxConfig, seed: int) -> dict[str, Any] | None:
    """Train the proposer at `path` when nothing (or an empty folder) is there yet; a model preset name, or a
    hub id found in the local Hugging Face cache, is used as it is. Anything else at `path` must be a
    checkpoint: training replaces its folder, so it never trains over one that holds something else. Returns
    the proposer.json record, if any; a proposer whose record names other `stop.proposer` settings than `cfg`
    is refused, since those settings would not apply."""
    from selfimprove.errors import UserError
    from selfimprove.models import is_cached_hub_model, is_preset

    out = Path(path)
    if is_preset(path) or is_cached_hub_model(path):  # a model the run loads as it is
        return None
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        from selfimprove.progress import stderr

        stderr.print(f"no scaffold proposer at {path}: measuring the ground truth and training it", highlight=False)
        return train_proposer(out, cfg, sandbox, seed)
    if not (out / "config.json").is_file():
        raise UserError(f"model.path {path} exists but is not a checkpoint (no config.json); the scaffold proposer "
                        "is trained only at a path that does not exist yet: pass a new path or a trained model")
    record_file = out / "proposer.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else None
    trained, asked = (record or {}).get("settings"), cfg.model_dump()
    if trained is not None and trained != asked:  # they would silently not apply
        differ = ", ".join(f"{k} {trained.get(k)} (asked: {v})" for k, v in asked.items() if trained.get(k) != v)
        raise UserError(f"the proposer at {path} was trained with other stop.proposer settings: {differ}; match "
                        "them, or set model.path to a new folder to train one with these")
    return record
