"""Compositional GSM on the command line: `selfimprove build-compositional` writes pairs, and the hook that
makes `selfimprove eval` report the reasoning gap (Hosseini et al. 2024) for compositional_gsm and for the
arith world's compositional split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from rich.console import Console
from rich.table import Table

from selfimprove.compositional.build import BuildStats, build_from_file
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.evaluate import PAIR_SPLITS, CompositionalSection, evaluate_compositional
from selfimprove.config import Section
from selfimprove.jsonl import check_output_file, write_jsonl
from selfimprove.types import Record, Sampler, Task

# Rows of the gap table: (metrics key, label).
ROWS = (
    ("s1", "S1: Q1 alone"),
    ("s2", "S2: Q2 alone (X filled in)"),
    ("s_comp", "S_comp: pair, both right"),
    ("expected", "S1·S2"),
    ("gap", "gap Δ = S_comp − S1·S2"),
    ("q1_in_composition", "Q1 right inside pair"),
    ("q1_distraction", "Q1 drop: S1 − inside"),
    ("q2_in_composition", "Q2 right inside pair"),
    ("q2_given_q1", "Q2 right | Q1 right inside"),
    ("second_hop_drop", "second hop: S2 − Q2|Q1"),
    ("q2_miss_given_both_solvable", "Q2 miss | Q1 in, Q2 alone ok"),
)
PAIR_DEFAULT_SPLITS = {"compositional_gsm": ["pairs", "q1", "q2"]}


class BuildCompositionalConfig(Section):
    """`selfimprove build-compositional`: pair GSM8K problems into Compositional GSM (Hosseini et al. 2024)."""

    input: str = Field(..., description="GSM8K JSONL whose problems become Q2 (and Q1 unless q1 is set); the paper "
                       "pairs test problems with each other.")
    out: str = Field(..., description="Where to write the pairs (JSONL, one pair per line).")
    q1: str | None = Field(None, description="Another GSM8K JSONL to draw Q1 from (default: input).")
    build: BuildConfig = Field(default_factory=BuildConfig, description="How pairs are drawn and filtered.")


def run_build(cfg: BuildCompositionalConfig) -> BuildStats:
    """Build the pairs, write them, print the build statistics."""
    check_output_file(Path(cfg.out), "--out")
    stats = build_from_file(Path(cfg.input), Path(cfg.out), cfg.build, Path(cfg.q1) if cfg.q1 else None)
    table = Table("statistic", "value", title=f"built {stats.built} pairs -> {cfg.out}")
    for key, value in stats.to_dict().items():
        shown = (", ".join(f"{k}: {v}" for k, v in value.items()) or "-") if isinstance(value, dict) else str(value)
        table.add_row(key, shown)
    Console().print(table)
    return stats


def _cell(estimate: dict[str, float | None]) -> str:
    value, low, high = (estimate.get(k) for k in ("value", "low", "high"))
    if value is None:
        return "-"
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None \
        else f"{100 * value:.1f}"


def gap_table(metrics: dict[str, Any], mode: str, title: str) -> Table:
    """One answer mode: a row per statistic (percent, with its bootstrap interval), strict and flexible."""
    by_em = metrics["modes"][mode]
    table = Table("statistic", *by_em, title=f"{title} ({mode})",
                  caption=f"{metrics['n_pairs']} pairs, greedy, {metrics['shots']}-shot, "
                  f"{100 * metrics['confidence']:.0f}% bootstrap intervals")
    for key, label in ROWS:
        table.add_row(label, *(_cell(by_em[em][key]) for em in by_em))
    return table


def gap_requested(task_name: str, splits: list[str]) -> bool:
    """Whether an eval covers a task's composed pairs (then it also reports the reasoning gap)."""
    return PAIR_SPLITS.get(task_name) in splits


def default_splits(task_name: str, splits: list[str], explicit: bool) -> list[str]:
    """compositional_gsm has no test/ood splits: unless splits were given, evaluate pairs, q1 and q2."""
    return splits if explicit else PAIR_DEFAULT_SPLITS.get(task_name, splits)


def eval_gap(
    sampler: Sampler, task: Task, section: CompositionalSection, records: list[Record], out: Path, *,
    shots: int, limit: int | None, max_new_tokens: int, stop: list[str],
) -> dict[str, Any]:
    """The eval command's hook: the gap on the same pairs (greedy completions already in `records` are
    reused), transcripts to `<out>/compositional.jsonl`, a table on the terminal; returns the metrics."""
    if section.limit is None and limit is not None:
        section = section.model_copy(update={"limit": limit})
    known = {r.prompt: r.greedy for r in records if isinstance(r.prompt, str) and r.greedy is not None}
    result = evaluate_compositional(sampler, task, section, shots=shots, max_new_tokens=max_new_tokens, stop=stop,
                                    known=known)
    write_jsonl(out / "compositional.jsonl", (r.to_dict() for r in result.records))
    console = Console()
    for mode in result.metrics["modes"]:
        console.print(gap_table(result.metrics, mode, f"reasoning gap on {task.name}"))
    console.print(f"compositional transcripts: {out / 'compositional.jsonl'}")
    return result.metrics
