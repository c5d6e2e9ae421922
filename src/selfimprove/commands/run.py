"""`selfimprove run CONFIG`: one self-improvement run in a resumable run directory, then its verdict and
report."""

from __future__ import annotations

import shutil
from pathlib import Path
from pkgutil import resolve_name
from typing import Any

from rich.console import Console

from selfimprove.errors import UserError
from selfimprove.fingerprint import check_inputs, input_fingerprints
from selfimprove.recipes import get_recipe
from selfimprove.recipes.config import BaseRunConfig
from selfimprove.rundir import RunDir, open_run
from selfimprove.verdict import VerdictConfig, decide


def run(cfg: BaseRunConfig, fresh: bool = False, force_config: bool = False) -> Path:
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


def check_startable(cfg: BaseRunConfig) -> None:
    """Everything that can be checked before the run directory is created: the task and its splits, and a
    local starting checkpoint (a failed start must not leave a folder that refuses the corrected command)."""
    from selfimprove.sampling.hf import check_checkpoint
    from selfimprove.tasks import get_task

    get_task(cfg.task.name, **cfg.task.options)
    check = get_recipe(cfg.recipe).check
    if check is not None:
        resolve_name(check)(cfg)
    if Path(cfg.model.path).exists():
        check_checkpoint(Path(cfg.model.path))


def data_inputs(cfg: BaseRunConfig) -> list[Path]:
    """The local data the run reads: <data root>/<task>/ and any task option naming an existing file."""
    from selfimprove.tasks.data import data_root

    root = data_root(cfg.task.options.get("data_dir"))
    folders = [root / cfg.task.name] if root is not None else []
    files = [Path(v) for v in cfg.task.options.values() if isinstance(v, str) and Path(v).is_file()]
    return [p for p in [*folders, *files] if p.exists()]


def run_stages(console: Console, cfg: BaseRunConfig, run_dir: RunDir) -> None:
    """The config's recipe, its verdict (for recipes that have one) and the report."""
    recipe = get_recipe(cfg.recipe)
    done = run_dir.completed_iterations()
    state = f"resuming after iteration {done[-1]}" if done else "new run"
    console.print(f"run directory: {run_dir.root} ({state}; {cfg.describe()})")
    history = resolve_name(recipe.run)(cfg, run_dir)
    if recipe.verdict:
        show_verdict(console, history, cfg.verdict)
    write_report(console, run_dir)


def show_verdict(console: Console, history: list[dict[str, Any]], cfg: VerdictConfig) -> None:
    """The run's verdict (progress, reversal, regress or flat) in one line, when it can be decided."""
    if len(history) < 2:
        return
    try:
        verdict = decide(history, cfg)
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
