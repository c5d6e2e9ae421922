"""Parallel vs sequential test-time compute at an equal budget (Kumar et al. 2024, SCoRe, Sec. 6.2, Fig. 6):
with B samples per problem, either vote over B parallel samples (self-consistency, Wang et al. 2022), or draw
B/2 first attempts, follow each with one self-correction (the task's instruction), and vote over the B/2
second attempts. The paper, at B = 32: +7.4% (parallel) vs +10.5% (sequential) over single-sample accuracy.

The first attempts of the sequential arm are the first B/2 of the parallel samples (the same draws, so the
arms differ only in what the rest of the budget buys). Each accuracy is maj@ over disjoint blocks
(metrics.passk.maj_at_k), averaged over problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selfimprove.attempts import next_prompts
from selfimprove.errors import UserError
from selfimprove.evaluate import grade_all
from selfimprove.metrics.passk import maj_at_k, powers_of_two
from selfimprove.sections import SamplingSection
from selfimprove.types import Completion, Problem, Prompt, Sampler, Task, task_stop, with_stop


def check_budget(budget: int) -> None:
    if budget < 2 or budget & (budget - 1):
        raise UserError(f"the budget must be a power of two, at least 2 (2, 4, ..., 32); got {budget}")


def _vote(groups: list[list[Completion]], k: int) -> float:
    return float(np.mean([maj_at_k([c.answer for c in g], [bool(c.correct) for c in g], k) for g in groups]))


def budget_curves(sampler: Sampler, task: Task, problems: list[Problem], prompts: list[Prompt],
                  sampling: SamplingSection, budget: int, label: str = "") -> dict[str, Any]:
    """Accuracy of both arms at B = 2, 4, ..., budget: {"budget": [B...], "parallel": [...], "sequential":
    [...], "single": accuracy of one sample, "n_problems"}."""
    check_budget(budget)
    stop = task_stop(task, sampler)
    params = with_stop(sampling.model_copy(update={"n": budget}).params(), stop)
    parallel = sampler.sample(prompts, params)
    grade_all(task, problems, parallel, f"{label} budget parallel")
    half = budget // 2
    firsts = [g[:half] for g in parallel]
    flat_prompts = [p for p, g in zip(prompts, firsts) for _ in g]
    seconds_flat = sampler.sample(next_prompts(sampler, task, flat_prompts, [c.text for g in firsts for c in g]),
                                  with_stop(sampling.model_copy(update={"n": 1}).params(), stop))
    seconds = [[group[0] for group in seconds_flat[i * half:(i + 1) * half]] for i in range(len(problems))]
    grade_all(task, problems, seconds, f"{label} budget corrections")
    budgets = [b for b in powers_of_two(budget) if b >= 2]
    return {
        "n_problems": len(problems),
        "budget": budgets,
        "single": _vote(parallel, 1),
        "parallel": [_vote(parallel, b) for b in budgets],
        "sequential": [_vote(seconds, b // 2) for b in budgets],
    }


def plot_budget(curves: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """One panel per split: both arms' accuracy against the budget B (log2 axis)."""
    from selfimprove.report.plots import Line, Panel, draw

    panels = [Panel(f"{title} {split} ({c['n_problems']} problems)", [
        Line("parallel: majority of B samples", c["parallel"], x=c["budget"]),
        Line("sequential: majority of B/2 corrections", c["sequential"], x=c["budget"]),
        Line("one sample", [c["single"]] * len(c["budget"]), x=c["budget"], style={"linestyle": ":"}),
    ], ylabel="accuracy", xlabel="samples per problem (B)", percent=True, log2x=True)
        for split, c in curves.items()]
    draw(panels, ncols=min(2, len(panels)), width=6.0 * min(2, len(panels))).savefig(path, dpi=90)
