"""Stage machinery every recipe shares: per-stage seeds, where M_t lives, the held model, reading records
back, and training a stage's model into its checkpoint (saved under the work dir, then renamed into place,
so a killed run never leaves a half-written model/ that looks complete)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from selfimprove.rundir import RunDir, read_records_rows, replace_dir
from selfimprove.sections import ModelSection
from selfimprove.train.config import TrainSection
from selfimprove.types import Record, Sampler

if TYPE_CHECKING:
    from selfimprove.recipes.config import BaseRunConfig


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the parts' text: the same parts always give the same seed, different parts
    independent-looking ones."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def stage_seed(cfg: BaseRunConfig, t: int, stage: str) -> int:
    """A 31-bit seed from (run seed, the section's own seed, iteration, stage): each stage gets its own
    stream, and the same stage of the same iteration always gets the same one."""
    own = cfg.train.seed if stage == "train" else cfg.sampling.seed
    return derive_seed(cfg.seed, own, t, stage)


def model_path(cfg: BaseRunConfig, run: RunDir, t: int) -> str:
    """Checkpoint of M_t: the starting model for t = 0, else the iteration's model/ directory."""
    return cfg.model.path if t == 0 else str(run.model_dir(t))


def read_records(path: Path) -> list[Record]:
    return [Record.from_dict(row) for row in read_records_rows(path)]


class Models:
    """The models a recipe holds between stages, dropped before training so two copies never sit in memory:
    one sampler, built from its checkpoint by `make_sampler` (so model.chat applies the chat template as in
    `selfimprove eval`) and reused while the checkpoint stays the same (M_t is evaluated, then sampled from at
    t + 1); and raw models for scoring (`model`), the `pinned` one kept beside at most one other."""

    def __init__(self, section: ModelSection, batch_size: int = 1) -> None:
        self.section, self.batch_size = section, batch_size
        self.path: str | None = None
        self.current: Sampler | None = None
        self.pinned = ""
        self.held: dict[str, Any] = {}

    def sampler(self, path: str) -> Sampler:
        if self.current is None or self.path != path:
            self.release()
            from selfimprove.sampling import make_sampler

            section = self.section.model_copy(update={"path": path})
            self.path, self.current = path, make_sampler(section, self.batch_size)
        return self.current

    def model(self, path: str | Path) -> Any:
        """The transformers model of a checkpoint (for scoring or generating with it directly)."""
        from selfimprove.sampling.hf import load_model

        key = str(path)
        if key not in self.held:
            evict = [] if key == self.pinned else [k for k in self.held if k != self.pinned]
            for old in evict:  # at most the pinned model and one other are held
                del self.held[old]
            self.held[key] = load_model(key, self.section.dtype, self.section.device)[0]
        return self.held[key]

    def release(self) -> None:
        """Drop every held model (before training)."""
        self.path, self.current = None, None
        self.held.clear()


def save_checkpoint(model: Any, tokenizer: Any, run: RunDir, t: int) -> None:
    """Save M_t under the iteration's work dir, then rename it to run.model_dir(t) and drop the work dir."""
    from selfimprove.train.common import save_model

    work = run.work_dir(t)
    save_model(model, tokenizer, work / "model")
    replace_dir(work / "model", run.model_dir(t))
    shutil.rmtree(work, ignore_errors=True)


def keep_step_log(work: Path, iter_dir: Path) -> None:
    """A trainer's per-step log (steps.jsonl in its work folder: the RL trainers write one) is kept as the
    iteration's train_steps.jsonl before the work folder is removed."""
    from selfimprove.jsonl import write_atomic

    log = work / "steps.jsonl"
    if log.is_file():
        write_atomic(iter_dir / "train_steps.jsonl", log.read_text(encoding="utf-8"))


def train_stage(models: Models, run: RunDir, t: int, method: str, rows: list[dict[str, Any]], start: str,
                train_cfg: TrainSection, chat: bool = False) -> None:
    """Train M_t from the checkpoint `start` with training method `method` (selfimprove.train.registry) on
    `rows`, seeded by train_cfg.seed, into run.model_dir(t). With no rows, M_t is `start` unchanged."""
    from transformers import set_seed

    from selfimprove.sampling.hf import load_model
    from selfimprove.train.registry import fit_rows, get_trainer

    get_trainer(method)  # an unknown method fails before any model is loaded
    work = run.work_dir(t)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    models.release()
    set_seed(train_cfg.seed)  # also fixes LoRA's initialisation, done before the trainer seeds itself
    model, tokenizer = load_model(start, models.section.dtype, models.section.device)
    if rows:
        model = fit_rows(method, model, tokenizer, rows, train_cfg, work / "trainer", chat)
        keep_step_log(work / "trainer", run.iter_dir(t))
    else:
        Console(stderr=True).print(f"[yellow]iteration {t}: no {method.upper()} training rows; M_{t} = {start}")
    save_checkpoint(model, tokenizer, run, t)
