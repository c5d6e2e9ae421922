"""`selfimprove eval`: evaluate one model on one task and write eval.jsonl + metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field
from rich.console import Console

from selfimprove.attempts import check_attempts
from selfimprove.budget import budget_curves, check_budget, plot_budget
from selfimprove.commands.compositional import default_splits, eval_gap, gap_requested
from selfimprove.compositional.evaluate import CompositionalSection
from selfimprove.suites.compositional import suite_metrics
from selfimprove.config import Section, dump_config
from selfimprove.evaluate import evaluate_split
from selfimprove.evaluate_skills import SkillsSection, check_skills_task, skill_metrics, skills_table
from selfimprove.jsonl import check_parent, write_atomic, write_jsonl
from selfimprove.metrics import EmbeddingCache
from selfimprove.metrics.summary import summarize_splits
from selfimprove.report.console import metrics_table
from selfimprove.sampling import open_sampler
from selfimprove.sections import ModelSection, SamplingSection, TaskSection
from selfimprove.suites import SuiteInput
from selfimprove.suites.config import EvalSuitesSection
from selfimprove.errors import UserError
from selfimprove.rundir import run_root_of
from selfimprove.tasks import check_nonempty, get_task
from selfimprove.types import Sampler, Task


class EvalConfig(Section):
    """`selfimprove eval`: one model, one task, greedy pass@1 and pass@k per split."""

    task: TaskSection = Field(default_factory=TaskSection, description="Which task and how to prompt it.")
    model: ModelSection = Field(..., description="The model to evaluate.")
    sampling: SamplingSection = Field(default_factory=SamplingSection, description="How to sample.")
    eval: EvalSuitesSection = Field(default_factory=EvalSuitesSection, description="What to evaluate.")
    out: str | None = Field(None, description="Directory for eval.jsonl and metrics.json.")
    compositional: CompositionalSection = Field(
        default_factory=CompositionalSection,
        description="Reasoning gap (S1, S2, S_comp, Δ), reported when compositional pairs are evaluated "
        "(task compositional_gsm, or arith's compositional split).",
    )
    skills: SkillsSection = Field(default_factory=SkillsSection,
                                  description="Every skill of the model in the arith world, against its ground truth.")


# What `selfimprove eval` (and `selfimprove report` on its folder) writes: an --out folder holding anything
# else was not made by eval, and is not overwritten.
EVAL_OUTPUTS = frozenset({"eval.jsonl", "metrics.json", "config.yaml", "compositional.jsonl", "embeddings",
                          "report.html", "budget.json", "budget.png", "serve.log"})


def check_out_folder(out: Path) -> None:
    """Refuse an --out that would overwrite what eval did not write: a run directory (or a folder inside one),
    a file, or a folder with other files. A new, empty or earlier eval folder is fine."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for eval.jsonl and metrics.json")
    run = run_root_of(out)
    if run is not None:
        raise UserError(f"--out {out} is inside the run directory {run}; writing there would change that run's "
                        "results: give a new folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in EVAL_OUTPUTS and not p.name.endswith(".tmp"))
        if foreign:
            raise UserError(f"--out {out} holds files `selfimprove eval` did not write ({', '.join(foreign[:3])}"
                            f"{', ...' if len(foreign) > 3 else ''}); give a new or empty folder")
    check_parent(out, "--out")


def run_eval(cfg: EvalConfig) -> dict:
    """Sample, grade, summarize; write the records and metrics under cfg.out and print a table. With
    model.serve.command, the model is sampled through a server started on it for the evaluation (its output in
    <out>/serve.log) and stopped after it, also on errors and Ctrl-C."""
    from selfimprove.sampling.hf import check_checkpoint
    from selfimprove.sampling.serve import check_serve_command

    out = Path(cfg.out or ".")
    check_out_folder(out)
    check_serve_command(cfg.model)
    if cfg.model.serve.command and Path(cfg.model.path).exists():
        check_checkpoint(Path(cfg.model.path))  # before a server spends minutes on it
    task = get_task(cfg.task.name, **cfg.task.options)
    cfg.eval.splits = default_splits(cfg.task.name, cfg.eval.splits, "splits" in cfg.eval.model_fields_set)
    if cfg.skills.enabled:
        check_skills_task(task)
    check_attempts(task, 2 if cfg.eval.budget else cfg.eval.attempts)  # fail before loading the model
    if cfg.eval.budget:
        check_budget(cfg.eval.budget)
    for split in cfg.eval.splits:
        check_nonempty(task, split)  # fail on a bad or empty split before loading the model
    with open_sampler(cfg.model, out / "serve.log", cfg.sampling.batch_size, cfg.sampling.engine) as sampler:
        metrics = evaluate(cfg, task, sampler, out)
    write_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
    write_atomic(out / "config.yaml", dump_config(cfg))
    console = Console()
    console.print(metrics_table(metrics, f"{cfg.model.path} on {cfg.task.name}"))
    if "skills" in metrics:
        console.print(skills_table(metrics["skills"]))
    console.print(f"records: {out / 'eval.jsonl'}  metrics: {out / 'metrics.json'}")
    return metrics


def evaluate(cfg: EvalConfig, task: Task, sampler: Sampler, out: Path) -> dict[str, Any]:
    """Everything eval samples, while `sampler` is open: the records (written to eval.jsonl) and their metrics."""
    records = []
    for split in cfg.eval.splits:
        records += evaluate_split(sampler, task, split, cfg.sampling, cfg.eval, cfg.task.shots)
    write_jsonl(out / "eval.jsonl", (r.to_dict() for r in records))
    cache = EmbeddingCache(out / "embeddings") if cfg.eval.semantic and cfg.eval.k > 1 else None
    metrics = summarize_splits(records, cache)
    if gap_requested(cfg.task.name, cfg.eval.splits):
        gap = eval_gap(sampler, task, cfg.compositional, records, out, shots=cfg.task.shots, limit=cfg.eval.limit,
                       max_new_tokens=cfg.sampling.max_new_tokens, stop=cfg.sampling.stop)
        metrics["compositional"] = {**metrics.get("compositional", {}), **gap}  # arith's split has this name too
    else:  # eval.compositional: the gap on pairs the task does not evaluate itself (gsm8k: built from GSM8K test)
        inp = SuiteInput(task, sampler, records, metrics, out, 0, cfg.task.shots, cfg.sampling, cfg.eval.splits,
                         cfg.eval.limit)
        metrics.update(suite_metrics(cfg.eval.compositional, inp))
    if cfg.skills.enabled:
        metrics["skills"] = skill_metrics(sampler, task, cfg.skills)  # type: ignore[arg-type]
    if cfg.eval.budget:
        metrics["budget"] = run_budget(cfg, task, sampler, out)
    return metrics


def run_budget(cfg: EvalConfig, task: Task, sampler: Sampler, out: Path) -> dict[str, Any]:
    """Parallel vs sequential curves of each split (selfimprove.budget) into budget.json and budget.png."""
    curves = {}
    for split in cfg.eval.splits:
        problems = task.load(split, cfg.eval.limit)
        prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
        curves[split] = budget_curves(sampler, task, problems, prompts, cfg.sampling, cfg.eval.budget, split)
    write_atomic(out / "budget.json", json.dumps(curves, indent=1))
    plot_budget(curves, out / "budget.png", f"{cfg.model.path} on {cfg.task.name}")
    console = Console()
    for split, c in curves.items():
        console.print(f"budget {split}: one sample {100 * c['single']:.1f}; " + ", ".join(
            f"B={b}: parallel {100 * p:.1f} / sequential {100 * q:.1f}"
            for b, p, q in zip(c["budget"], c["parallel"], c["sequential"])))
    return curves
