"""The `selfimprove` command line. Each command parses its input into a typed config and calls one function;
bad input becomes one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.markup import escape

from selfimprove.config import load_config
from selfimprove.errors import UserError
from selfimprove.progress import stderr

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Run LLM self-improvement loops and measure whether the model really got better.",
)

ConfigArgs = Annotated[
    Optional[list[str]],
    typer.Argument(help="An optional YAML config file, then dotted overrides such as sampling.temperature=0.7."),
]


def split_args(args: list[str] | None) -> tuple[Path | None, list[str]]:
    """The config path (the one argument without '=') and the overrides."""
    paths = [a for a in args or [] if "=" not in a]
    if len(paths) > 1:
        raise UserError(f"more than one config file given: {paths}; overrides must look like key=value")
    return (Path(paths[0]) if paths else None), [a for a in args or [] if "=" in a]


def shipped_configs() -> list[Path]:
    """configs/*.yaml of the working directory and of the source checkout."""
    roots = {Path.cwd() / "configs", Path(__file__).resolve().parents[2] / "configs"}
    return sorted({p.resolve() for root in roots if root.is_dir() for p in root.glob("*.yaml")})


@app.command("ls")
def ls_command() -> None:
    """List tasks and shipped configs."""
    from rich.console import Console
    from rich.table import Table

    from selfimprove.tasks import TASKS

    table = Table("task", "what it is", title="tasks")
    for name, (_, about) in TASKS.items():
        table.add_row(name, about)
    console = Console()
    console.print(table)
    configs = Table("config", "command", title="shipped configs")
    for path in shipped_configs():
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        configs.add_row(path.name, first[0].lstrip("# ") if first else "")
    console.print(configs)


@app.command("pretrain")
def pretrain_command(args: ConfigArgs = None) -> None:
    """Build and train the tiny seed model on the arith `seed` split (a standard HF checkpoint)."""
    from selfimprove.tiny.pretrain import PretrainConfig, pretrain

    path, overrides = split_args(args)
    cfg = load_config(PretrainConfig, path, overrides)
    out, seconds = pretrain(cfg)
    print(f"seed model saved to {out} (trained for {seconds:.0f} s)")


@app.command("eval")
def eval_command(
    args: ConfigArgs = None,
    model: Annotated[Optional[str], typer.Option(help="Model checkpoint directory or hub id.")] = None,
    task: Annotated[Optional[str], typer.Option(help="Task name (see `selfimprove ls`).")] = None,
    split: Annotated[Optional[list[str]], typer.Option(help="Split to evaluate (repeatable).")] = None,
    k: Annotated[Optional[int], typer.Option(help="Samples per problem for pass@k (0 = greedy only).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N problems of each split.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Local folder with the dataset files.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Where to write eval.jsonl and metrics.json.")] = None,
) -> None:
    """Greedy pass@1 and pass@k of a model on a task; records go to eval.jsonl."""
    from selfimprove.commands.eval import EvalConfig, run_eval

    path, overrides = split_args(args)
    flags = {"model.path": model, "task.name": task, "eval.splits": split, "eval.k": k, "eval.limit": limit,
             "task.options.data_dir": data_dir, "out": out}
    overrides = [f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
                 for key, value in flags.items() if value is not None] + overrides
    cfg = load_config(EvalConfig, path, overrides)
    if cfg.out is None:
        cfg.out = f"runs/eval/{cfg.task.name}-{datetime.now():%Y%m%d-%H%M%S}"
    run_eval(cfg)


def main() -> None:
    """Entry point: run the app; turn user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except UserError as e:
        stderr.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except (KeyboardInterrupt, click.Abort):
        stderr.print("interrupted; everything written so far is kept")
        sys.exit(130)


if __name__ == "__main__":
    main()
