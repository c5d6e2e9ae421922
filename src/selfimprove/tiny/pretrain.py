"""`selfimprove pretrain`: build the tiny seed model and train it on the labeled `seed` split with TRL's
SFTTrainer (completion-only loss). The result is a standard HF checkpoint directory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import Field

from selfimprove.config import Section, dump_config
from selfimprove.errors import UserError
from selfimprove.jsonl import write_atomic
from selfimprove.rundir import replace_dir, scratch_beside
from selfimprove.sections import TaskSection
from selfimprove.tasks import arith_skills as skills
from selfimprove.tasks import arith_world as world
from selfimprove.tasks import get_task
from selfimprove.tiny.model import TinyModelSection, build_model
from selfimprove.tiny.tokenizer import build_tokenizer
from selfimprove.train.common import save_model
from selfimprove.train.config import TrainSection


def _pretrain_defaults() -> TrainSection:
    """A fixed step budget (not a time limit, so the seed model is the same on any machine): 600 steps of
    32 rows."""
    return TrainSection(learning_rate=2e-3, batch_size=32, max_steps=600, warmup_ratio=0.05, logging_steps=50)


class SkillMixSection(Section):
    """Rows of each arith skill (selfimprove.tasks.arith_skills) per solve row of the corpus."""

    judge: float = Field(0.05, ge=0, le=1, description="Judge rows: a rubric judgment ending `Score: N`.")
    pose: float = Field(0.03, ge=0, le=1, description="Pose rows: a new problem after three examples.")
    revise: float = Field(0.05, ge=0, le=1, description="Revise rows: a second attempt after the correction "
                                                        "instruction (mostly repeats, some fixes, some breaks).")
    compose: float = Field(0.05, ge=0, le=1, description="Compose rows: a chained pair of problems answered "
                                                         "in Hosseini et al.'s format.")


class PretrainConfig(Section):
    """The tiny seed model of the embedded default: architecture, data and a training budget."""

    out: str = Field("runs/tiny-arith", description="Directory of the trained checkpoint.")
    task: TaskSection = Field(default_factory=TaskSection, description="Labeled data: the task's `split`.")
    split: str = Field("seed", description="Split whose reference solutions are the training targets.")
    whole_numbers: int = Field(
        0, ge=0, description="Tokenizer: integers below this are single tokens (0 = every digit is a token, so "
                             "arithmetic is a digit algorithm to learn; with 1000 each equation of the arith world "
                             "is a fact to memorize).")
    skills: SkillMixSection = Field(default_factory=SkillMixSection,
                                    description="Skill rows mixed into the arith corpus (judge, pose, revise, compose).")
    model: TinyModelSection = Field(default_factory=TinyModelSection, description="Architecture of the tiny Llama.")
    train: TrainSection = Field(default_factory=_pretrain_defaults, description="Training budget and optimizer.")
    threads: int = Field(
        1, ge=0, description="torch threads while pretraining (0 = torch's default, set by OMP_NUM_THREADS or the "
                             "core count). A fixed count gives the same seed model whatever the environment says: "
                             "each thread count splits float sums differently, and 600 steps turn those last-bit "
                             "differences into a different model.")


def training_rows(cfg: PretrainConfig) -> list[dict[str, str]]:
    """Prompt/completion rows from the split's reference solutions (metadata['solution']), and for arith the
    skill rows at the rates of `cfg.skills`."""
    task = get_task(cfg.task.name, **cfg.task.options)
    rows = []
    for problem in task.load(cfg.split):
        solution = problem.metadata.get("solution")
        if solution:
            rows.append({"prompt": str(task.format_prompt(problem, cfg.task.shots)), "completion": f" {solution}"})
    if cfg.task.name == "arith":
        rows += _skill_rows(cfg, len(rows), getattr(task, "sizes")[cfg.split], getattr(task, "seed"))
    return rows


def _skill_rows(cfg: PretrainConfig, solve_rows: int, size: int, seed: int) -> list[dict[str, str]]:
    """Each skill's rows at its rate, built from the same labeled split (never test)."""
    problems = world.split_problems(cfg.split, size, seed)
    rates = cfg.skills.model_dump()
    if len(problems) < 4 and any(rates.values()):
        raise UserError(f"the {cfg.split!r} split has {len(problems)} problems; skill rows need at least 4 "
                        "(or set skills.judge, skills.pose, skills.revise and skills.compose to 0)")
    return [row for skill, rate in rates.items() for row in skills.skill_rows(skill, problems, round(rate * solve_rows), seed)]


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse to replace an existing checkpoint (or any non-empty folder) unless asked to."""
    if out.exists() and not out.is_dir():
        raise UserError(f"out={out} is a file; give a folder for the checkpoint")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"out={out} already holds files; pass --overwrite to replace them, or choose another out")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to `count` (0 = left as it is) inside the block, restored after."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pretrain(cfg: PretrainConfig, overwrite: bool = False) -> tuple[Path, float]:
    """Train and save the seed model; returns its directory and the training wall time in seconds. The
    trainer's scratch and the new checkpoint live in a hidden sibling folder until the checkpoint replaces
    `out` in one rename, so `out` never holds trainer files or a half-saved model."""
    from selfimprove.train.sft import train_sft

    out = Path(cfg.out)
    check_out(out, overwrite)
    tokenizer = build_tokenizer(cfg.whole_numbers)
    model = build_model(tokenizer, cfg.model, seed=cfg.train.seed)
    rows = training_rows(cfg)
    with scratch_beside(out, "pretrain") as work:
        start = time.monotonic()
        with torch_threads(cfg.threads):
            trained = train_sft(model, tokenizer, rows, cfg.train, work / "trainer")
        seconds = time.monotonic() - start
        save_model(trained, tokenizer, work / "model")
        write_atomic(work / "model" / "pretrain.yaml", dump_config(cfg))
        replace_dir(work / "model", out)
    return out, seconds
