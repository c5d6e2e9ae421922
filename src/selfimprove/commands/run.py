"""`selfimprove run CONFIG`: one self-improvement run in a resumable run directory, then its verdict and
report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from rich.console import Console

from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.evaluate import EvalSection
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


def run(cfg: RunConfig, fresh: bool = False, force_config: bool = False) -> Path:
    """Run or resume the loop, print the verdict, write the HTML report; returns the run directory."""
    from selfimprove.loop import run_loop

    console = Console()
    run_dir, cfg = open_run(cfg, fresh=fresh, force_config=force_config)
    done = run_dir.completed_iterations()
    state = f"resuming after iteration {done[-1]}" if done else "new run"
    console.print(f"run directory: {run_dir.root} ({state}; strategy {cfg.loop.strategy}, "
                  f"{cfg.loop.iterations} iterations)")
    history = run_loop(cfg, run_dir)
    show_verdict(console, history, cfg.verdict)
    write_report(console, run_dir)
    return run_dir.root


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
