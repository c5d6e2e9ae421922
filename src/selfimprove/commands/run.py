"""`selfimprove run CONFIG`: one self-improvement run in a resumable run directory, then its verdict and
report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from rich.console import Console

from selfimprove.collapse.config import CollapseSection
from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.evaluate import EvalSection
from selfimprove.fingerprint import check_inputs, input_fingerprints
from selfimprove.rundir import RunDir, open_run
from selfimprove.sections import ModelSection, SamplingSection, TaskSection
from selfimprove.strategies import LoopSection
from selfimprove.train.config import TrainSection
from selfimprove.verdict import VerdictConfig, judge


class RunConfig(Section):
    """A self-improvement run: the starting checkpoint, the task, and how each stage of the loop runs."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="Run name; the run directory is <out>/<name>.")
    out: str = Field("runs", description="Folder that holds run directories.")
    seed: int = Field(0, description="Run seed: each stage's seed derives from (seed, iteration, stage).")
    task: TaskSection = Field(default_factory=TaskSection, description="Which task and how to prompt it.")
    model: ModelSection = Field(..., description="The starting model M_0: any HF checkpoint directory or hub id.")
    sampling: SamplingSection = Field(
        default_factory=SamplingSection, description="How improvement problems are sampled (N = sampling.n); "
                                                     "evaluation samples use the same temperature and top-p.",
    )
    eval: EvalSection = Field(default_factory=EvalSection, description="What is evaluated after each iteration.")
    train: TrainSection = Field(default_factory=TrainSection, description="Trainer hyper-parameters (SFT and DPO).")
    loop: LoopSection = Field(default_factory=LoopSection, description="Iterations, strategy, curation, mixing.")
    verdict: VerdictConfig = Field(default_factory=VerdictConfig, description="Thresholds of the final verdict.")
    collapse: CollapseSection | None = Field(
        None, description="loop.strategy=collapse only (filled with defaults when absent): corpus, blocks, decoding "
                          "and arms of the recursive training (selfimprove.collapse.config).",
    )

    @model_validator(mode="before")
    @classmethod
    def _collapse_defaults(cls, data: Any) -> Any:
        """strategy collapse without a collapse section runs the paper's defaults."""
        loop = data.get("loop") if isinstance(data, dict) else None
        strategy = loop.get("strategy") if isinstance(loop, dict) else getattr(loop, "strategy", None)
        if strategy == "collapse" and data.get("collapse") is None:
            data = {**data, "collapse": {}}
        return data

    @model_validator(mode="after")
    def _collapse_only(self) -> RunConfig:
        if self.collapse is not None and self.loop.strategy != "collapse":
            raise ValueError(f"the collapse section is for loop.strategy=collapse, not {self.loop.strategy!r}")
        monitor = self.eval.perplexity.split or (self.eval.splits[0] if self.eval.splits else None)
        if self.loop.keep_original > 0 and self.eval.perplexity.enabled and monitor == self.loop.seed_split:
            raise ValueError(f"eval.perplexity scores split {monitor!r}, which keep_original trains on; "
                             "set eval.perplexity.split to a held-out split")
        return self

    @model_validator(mode="after")
    def _trainable(self) -> RunConfig:
        """A run fine-tunes its model, so it needs the weights here: a served model cannot be trained."""
        if self.model.backend != "hf":
            raise ValueError("model.backend must be hf for a run: the loop trains the model, so it needs local "
                             "weights (a checkpoint, hub id or preset); evaluate a served model with "
                             "`selfimprove eval --backend openai` instead")
        return self


def run(cfg: RunConfig, fresh: bool = False, force_config: bool = False) -> Path:
    """Run or resume the loop, print the verdict, write the HTML report; returns the run directory."""
    console = Console()
    check_startable(cfg)
    new = not (Path(cfg.out) / cfg.name).exists() or fresh
    run_dir, cfg = open_run(cfg, fresh=fresh, force_config=force_config)
    try:
        check_inputs(run_dir.root, input_fingerprints(cfg.model.path, data_inputs(cfg)), force_config)
        run_stages(console, cfg, run_dir)
    except BaseException:
        if new and not run_dir.has_work():  # nothing done yet: leave no folder that would refuse the next start
            shutil.rmtree(run_dir.root, ignore_errors=True)
        raise
    return run_dir.root


def check_startable(cfg: RunConfig) -> None:
    """Everything that can be checked before the run directory is created: the task and its splits, and a
    local starting checkpoint (a failed start must not leave a folder that refuses the corrected command)."""
    from selfimprove.loop import check_splits
    from selfimprove.sampling.hf import check_checkpoint
    from selfimprove.sampling.serve import check_serve_command
    from selfimprove.tasks import get_task
    from selfimprove.train.launch import check_accelerate_config

    task = get_task(cfg.task.name, **cfg.task.options)
    if cfg.loop.strategy != "collapse":
        check_splits(task, cfg)
    if Path(cfg.model.path).exists():
        check_checkpoint(Path(cfg.model.path))
    check_accelerate_config(cfg.train)
    check_serve_command(cfg.model)


def data_inputs(cfg: RunConfig) -> list[Path]:
    """The local data the run reads: <data root>/<task>/ and any task option naming an existing file."""
    from selfimprove.tasks.data import data_root

    root = data_root(cfg.task.options.get("data_dir"))
    folders = [root / cfg.task.name] if root is not None else []
    files = [Path(v) for v in cfg.task.options.values() if isinstance(v, str) and Path(v).is_file()]
    return [p for p in [*folders, *files] if p.exists()]


def run_stages(console: Console, cfg: RunConfig, run_dir: RunDir) -> None:
    """The loop (or the collapse driver), its verdict and the report."""
    from selfimprove.loop import run_loop

    done = run_dir.completed_iterations()
    state = f"resuming after iteration {done[-1]}" if done else "new run"
    console.print(f"run directory: {run_dir.root} ({state}; strategy {cfg.loop.strategy}, "
                  f"{cfg.loop.iterations} iterations)")
    if cfg.loop.strategy == "collapse":  # its own driver: generations of recursive training, no verdict
        from selfimprove.collapse.recursion import run_collapse

        run_collapse(cfg, run_dir)
    else:
        show_verdict(console, run_loop(cfg, run_dir), cfg.verdict)
    write_report(console, run_dir)


def show_verdict(console: Console, history: list[dict[str, Any]], cfg: VerdictConfig) -> None:
    """The run's verdict (progress, reversal, regress or flat) in one line, when it can be judged."""
    if len(history) < 2:
        return
    try:
        verdict = judge(history, cfg)
    except UserError as e:
        console.print(f"no verdict: {e}")
        return
    console.print(f"[bold]verdict: {verdict.label}[/] - {verdict.summary}")


def write_report(console: Console, run_dir: RunDir) -> Path | None:
    """The self-contained HTML report of the run, when the report module is installed."""
    try:
        from selfimprove.report.html import write_report as write_html
    except ImportError:
        console.print(f"records and metrics: {run_dir.root} (HTML report not available in this version)")
        return None
    path = write_html(run_dir.root)
    console.print(f"report: {path}")
    return path
