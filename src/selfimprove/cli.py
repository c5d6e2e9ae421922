"""The `selfimprove` command line. Each command parses its input into a typed config and calls one function;
bad input becomes one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from selfimprove.config import load_config
from selfimprove.entry import quiet_libraries, run_app
from selfimprove.errors import UserError
from selfimprove.progress import VERBOSE_ENV

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Run LLM self-improvement loops and measure whether the model really got better.",
)


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Keep the libraries' own logs, warnings and progress bars (default: warnings only).",
    )] = False,
) -> None:
    """Options of every command (given before the command's name)."""
    quiet_libraries(verbose or os.environ.get(VERBOSE_ENV) == "1")


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
    """List tasks, recipes with their strategies, training methods and shipped configs."""
    from rich.console import Console
    from rich.table import Table

    from selfimprove.recipes import RECIPES
    from selfimprove.strategies import STRATEGIES
    from selfimprove.tasks import TASKS
    from selfimprove.train.registry import TRAINERS

    table = Table("task", "what it is", title="tasks")
    for name, (_, about) in TASKS.items():
        table.add_row(name, about)
    console = Console()
    console.print(table)
    recipes = Table("recipe", "strategies (loop.strategy)", "what it runs", title="recipes (recipe)")
    for name, recipe in RECIPES.items():
        recipes.add_row(name, ", ".join(recipe.strategies) or "-", recipe.about)
    console.print(recipes)
    strategies = Table("strategy", "what it trains on", title="strategies of recipe iterative (loop.strategy)")
    for name, strategy in STRATEGIES.items():
        strategies.add_row(name, strategy.about)
    console.print(strategies)
    trainers = Table("method", "what it trains", title="training methods")
    for name, trainer in TRAINERS.items():
        trainers.add_row(name, trainer.about)
    console.print(trainers)
    configs = Table("config", "command", title="shipped configs")
    for path in shipped_configs():
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        configs.add_row(path.name, first[0].lstrip("# ") if first else "")
    console.print(configs)


@app.command("pretrain")
def pretrain_command(
    args: ConfigArgs = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the checkpoint already in `out`.")] = False,
) -> None:
    """Build and train the tiny seed model on the arith `seed` split (a standard HF checkpoint)."""
    from selfimprove.tiny.pretrain import PretrainConfig, pretrain

    path, overrides = split_args(args)
    cfg = load_config(PretrainConfig, path, overrides)
    out, seconds = pretrain(cfg, overwrite=overwrite)
    print(f"seed model saved to {out} (trained for {seconds:.0f} s)")


@app.command("eval")
def eval_command(
    args: ConfigArgs = None,
    model: Annotated[Optional[str], typer.Option(
        help="Checkpoint directory, hub id or preset (smollm2-135m); with --backend openai, the served name.",
    )] = None,
    task: Annotated[Optional[str], typer.Option(help="Task name (see `selfimprove ls`).")] = None,
    split: Annotated[Optional[list[str]], typer.Option(help="Split to evaluate (repeatable).")] = None,
    k: Annotated[Optional[int], typer.Option(help="Samples per problem for pass@k (0 = greedy only).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N problems of each split.")] = None,
    attempts: Annotated[Optional[int], typer.Option(
        help="Greedy attempts per problem: 2 = answer, then correct it (Acc@t1, Acc@t2, Δ, Δi→c, Δc→i).")] = None,
    budget: Annotated[Optional[int], typer.Option(
        help="Parallel vs sequential at equal budget B = 2..BUDGET: majority of B samples vs of B/2 corrections.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Local folder with the dataset files.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Where to write eval.jsonl and metrics.json.")] = None,
    backend: Annotated[Optional[str], typer.Option(
        help="hf (load the model locally) or openai (an OpenAI-compatible server).")] = None,
    base_url: Annotated[Optional[str], typer.Option(
        help="Server URL ending in /v1 (backend openai); the key comes from $SELFIMPROVE_API_KEY.")] = None,
) -> None:
    """Greedy pass@1 and pass@k of a model on a task; records go to eval.jsonl."""
    from selfimprove.commands.eval import EvalConfig, run_eval

    path, overrides = split_args(args)
    flags = {"model.path": model, "task.name": task, "eval.splits": split, "eval.k": k, "eval.limit": limit,
             "eval.attempts": attempts, "eval.budget": budget,
             "task.options.data_dir": data_dir, "out": out, "model.backend": backend,
             "model.server.base_url": base_url}
    overrides = [f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
                 for key, value in flags.items() if value is not None] + overrides
    cfg = load_config(EvalConfig, path, overrides)
    if cfg.out is None:
        cfg.out = f"runs/eval/{cfg.task.name}-{datetime.now():%Y%m%d-%H%M%S}"
    run_eval(cfg)


@app.command("build-compositional")
def build_compositional_command(
    args: ConfigArgs = None,
    input_: Annotated[Optional[str], typer.Option("--input", help="GSM8K JSONL (Q2s, and Q1s unless --q1).")] = None,
    out: Annotated[Optional[str], typer.Option(help="Where to write the pairs JSONL.")] = None,
    q1: Annotated[Optional[str], typer.Option(help="Another GSM8K JSONL to draw Q1 from.")] = None,
    num_pairs: Annotated[Optional[int], typer.Option(help="How many pairs to build (the paper has 1200).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the pairing.")] = None,
) -> None:
    """Build Compositional GSM pairs (Q1's answer is X in Q2) from GSM8K and print the build statistics."""
    from selfimprove.commands.compositional import BuildCompositionalConfig, run_build

    path, overrides = split_args(args)
    flags = {"input": input_, "out": out, "q1": q1, "build.num_pairs": num_pairs, "build.seed": seed}
    overrides = [f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
                 for key, value in flags.items() if value is not None] + overrides
    run_build(load_config(BuildCompositionalConfig, path, overrides))


FreshOption = Annotated[
    bool, typer.Option("--fresh", help="Start over in a new run directory beside the old one (NAME-2, ...); "
                                       "nothing is deleted.")
]


@app.command("run")
def run_command(
    args: ConfigArgs = None,
    fresh: FreshOption = False,
    force_config: Annotated[bool, typer.Option(
        "--force-config", help="Resume even though the config differs from the run's config.yaml.")] = False,
) -> None:
    """Run a recipe (the config's `recipe`, default iterative: sample, verify, curate, train, evaluate for T
    iterations). On an existing run directory it resumes after the last completed stage."""
    from selfimprove.commands.run import run
    from selfimprove.recipes import load_run_config

    path, overrides = split_args(args)
    if path is None and not overrides:
        raise UserError("give a run config, e.g. `selfimprove run configs/arith-sft.yaml` (`selfimprove ls` lists them)")
    run(load_run_config(path, overrides), fresh=fresh, force_config=force_config)


@app.command("demo")
def demo_command(args: ConfigArgs = None, fresh: FreshOption = False) -> None:
    """The embedded demo: pretrain the tiny model if needed, 3 iterations of iterative SFT on arith,
    evaluated on test and ood, then the report. Run it again to resume or to see the results."""
    from selfimprove.commands.demo import demo_config, run_demo

    path, overrides = split_args(args)
    run_demo(demo_config(path, overrides), fresh=fresh)


@app.command("collapse-gmm")
def collapse_gmm_command(
    args: ConfigArgs = None,
    out: Annotated[str, typer.Option(help="Directory for gmm.json and gmm.png.")] = "runs/collapse-gmm",
) -> None:
    """Model collapse in a Gaussian mixture (Shumailov et al. 2024): refit each generation on samples of
    the previous fit and watch the variance shrink."""
    from selfimprove.collapse.gmm import GMMConfig, run_gmm
    from selfimprove.collapse.plots import save_gmm

    path, overrides = split_args(args)
    result = run_gmm(load_config(GMMConfig, path, overrides))
    paths = save_gmm(result, out)
    print(f"figure: {paths['png']}  numbers: {paths['json']}")


@app.command("report")
def report_command(
    run_dir: Annotated[str, typer.Argument(help="Run directory (runs/<name>) or a `selfimprove eval` output folder.")],
    args: ConfigArgs = None,
    out: Annotated[Optional[str], typer.Option(help="Where to write the HTML (default RUN_DIR/report.html).")] = None,
) -> None:
    """Write a run's self-contained HTML report: the verdict, curves per iteration, a sample browser."""
    from selfimprove.commands.report import ReportConfig, run_report

    path, overrides = split_args(args)
    flags = {"run_dir": run_dir, "out": out}
    overrides = [f"{key}={value!r}" for key, value in flags.items() if value is not None] + overrides
    run_report(load_config(ReportConfig, path, overrides))


@app.command("compare")
def compare_command(
    runs: Annotated[list[str], typer.Argument(
        help="Run directories to put on the same axes, then optional overrides such as verdict.id_split=test.")],
    out: Annotated[Optional[str], typer.Option(help="The HTML file to write (default compare.html).")] = None,
    config: Annotated[Optional[str], typer.Option(help="An optional YAML config file.")] = None,
) -> None:
    """Compare several runs (e.g. iterative SFT vs DPO vs SFT->DPO) in one HTML file, on shared axes."""
    import json

    from selfimprove.commands.report import CompareConfig, run_compare

    overrides = [f"runs={json.dumps([r for r in runs if '=' not in r])}", *(r for r in runs if "=" in r)]
    if out is not None:
        overrides.insert(0, f"out={out!r}")
    run_compare(load_config(CompareConfig, Path(config) if config else None, overrides))


@app.command("boundary")
def boundary_command(
    run_dir: Annotated[str, typer.Argument(help="Run directory (runs/<name>) whose models are compared.")],
    args: ConfigArgs = None,
    k: Annotated[Optional[int], typer.Option(help="Samples per problem (pass@k for k = 1, 2, 4, ... <= k).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N problems of the split.")] = None,
    iterations: Annotated[Optional[tuple[int, int]], typer.Option(
        help="The base and the trained iteration, e.g. --iterations 0 3 (default: 0 and the last).")] = None,
) -> None:
    """The reasoning boundary: k samples per problem from two iterations' models, pass@k out to large k,
    pass^k and cover@tau, written into RUN_DIR/boundary and the report."""
    from selfimprove.commands.boundary import BoundarySection, run_boundary

    path, overrides = split_args(args)
    flags = {"run_dir": repr(run_dir), "k": k, "limit": limit, "iterations": list(iterations) if iterations else None}
    overrides = [f"{key}={value}" for key, value in flags.items() if value is not None] + overrides
    run_boundary(load_config(BoundarySection, path, overrides))


RESUMABLE = ("run", "demo", "boundary")  # commands whose finished shards survive Ctrl-C and are reused on rerun


def main() -> None:
    """Entry point: usage errors and user errors become one line and exit code 2, Ctrl-C exit code 130."""
    run_app(app, "selfimprove", resumable=RESUMABLE)


if __name__ == "__main__":
    main()
