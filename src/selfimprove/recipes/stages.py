"""Stage machinery every recipe shares: per-stage seeds, where M_t lives, the held model, reading records
back, and training a stage's model into its checkpoint (saved under the work dir, then renamed into place,
so a killed run never leaves a half-written model/ that looks complete)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from selfimprove.rundir import RunDir, read_records_rows, replace_dir
from selfimprove.sections import ModelSection
from selfimprove.train.config import TrainSection
from selfimprove.types import Record, Sampler

if TYPE_CHECKING:
    from selfimprove.recipes.config import BaseRunConfig
    from selfimprove.sampling import Engine


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
    one sampler, built from its checkpoint by `open_sampler` (so model.chat applies the chat template as in
    `selfimprove eval`, `engine` is sampling.engine, and with model.serve.command it is a server started on the
    checkpoint, its output appended to `serve_log`) and reused while the checkpoint stays the same (M_t is
    evaluated, then sampled from at t + 1); and raw models for scoring (`model`), the `pinned` one kept beside
    at most one other. Use it as a context manager (`with Models(...) as models:`) so that a server is stopped
    when the recipe ends, also on errors and Ctrl-C."""

    def __init__(self, section: ModelSection, batch_size: int = 1, engine: Engine = "auto",
                 serve_log: Path | None = None) -> None:
        self.section, self.batch_size, self.engine = section, batch_size, engine
        self.serve_log = serve_log or Path(tempfile.gettempdir()) / "selfimprove-serve.log"
        self.path: str | None = None
        self.current: Sampler | None = None
        self.serving = ExitStack()  # the current sampler's server, when it has one
        self.pinned = ""
        self.held: dict[str, Any] = {}

    def __enter__(self) -> Models:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def sampler(self, path: str) -> Sampler:
        if self.current is None or self.path != path:
            self.release()
            from selfimprove.sampling import open_sampler

            section = self.section.model_copy(update={"path": path})
            self.current = self.serving.enter_context(open_sampler(section, self.serve_log, self.batch_size,
                                                                   self.engine))
            self.path = path
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
        """Drop every held model and stop the sampler's server (before training)."""
        self.path, self.current = None, None
        self.serving.close()
        self.held.clear()


def save_checkpoint(model: Any, tokenizer: Any, run: RunDir, t: int) -> None:
    """Save M_t under the iteration's work dir, then put it in place (`place_checkpoint`)."""
    from selfimprove.train.common import save_model

    save_model(model, tokenizer, run.work_dir(t) / "model")
    place_checkpoint(run, t)


def place_checkpoint(run: RunDir, t: int) -> None:
    """Rename the work dir's model/ to run.model_dir(t) and drop the work dir."""
    work = run.work_dir(t)
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
    `rows`, seeded by train_cfg.seed, into run.model_dir(t): in this process, or with train.launcher=accelerate
    in processes started by `accelerate launch` that read the rows from the work dir (train/launch.py). With no
    rows, M_t is `start` unchanged."""
    from transformers import set_seed

    from selfimprove.sampling.hf import load_model
    from selfimprove.train.registry import fit_rows, get_trainer

    get_trainer(method)  # an unknown method fails before any model is loaded
    work = run.work_dir(t)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    models.release()
    if rows and train_cfg.launcher == "accelerate":
        from selfimprove.jsonl import write_jsonl
        from selfimprove.train.launch import launch_training

        write_jsonl(work / "rows.jsonl", rows)
        section = models.section
        launch_training(method, start, work / "rows.jsonl", train_cfg, work / "model", work, section.dtype,
                        section.device, chat)
        place_checkpoint(run, t)
        return
    set_seed(train_cfg.seed)  # also fixes LoRA's initialisation, done before the trainer seeds itself
    model, tokenizer = load_model(start, models.section.dtype, models.section.device)
    if rows:
        model = fit_rows(method, model, tokenizer, rows, train_cfg, work / "trainer", chat)
        keep_step_log(work / "trainer", run.iter_dir(t))
    else:
        Console(stderr=True).print(f"[yellow]iteration {t}: no {method.upper()} training rows; M_{t} = {start}")
    save_checkpoint(model, tokenizer, run, t)
