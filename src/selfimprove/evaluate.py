"""Evaluate a model on a task's splits: greedy and sampled completions, graded, as Records."""

from __future__ import annotations

from pydantic import Field

from selfimprove.attempts import check_attempts, correct_attempts
from selfimprove.config import Section
from selfimprove.progress import progress_bar
from selfimprove.sections import SamplingSection
from selfimprove.types import Completion, Problem, Record, Sampler, Task, task_stop, with_stop
from selfimprove.verify import grade


class EvalSection(Section):
    """Which splits are evaluated and how (the suites that measure more add their sections in
    selfimprove.suites.config)."""

    splits: list[str] = Field(default_factory=lambda: ["test", "ood"], min_length=1, description="Splits to evaluate.")
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N problems of each split.")
    k: int = Field(8, ge=0, description="Samples per problem for pass@k, maj@k, coverage and diversity (0 = greedy only).")
    attempts: int = Field(
        1, ge=1, description="Greedy attempts per problem: 2 = answer, then the task's correction instruction and a "
        "second answer (Kumar et al. 2024); the greedy metrics read the last attempt and `correction` holds Acc@t1, "
        "Acc@t2, Δ, Δi→c, Δc→i.",
    )
    semantic: bool = Field(True, description="Compute semantic diversity (MiniLM embeddings, cached per run).")
    budget: int = Field(
        0, ge=0, description="Parallel vs sequential compute (`selfimprove eval` only): with B = 2, 4, ..., budget "
        "samples per problem, majority over B samples vs over B/2 first attempts each corrected once (Kumar et al. "
        "2024, Fig. 6); written to budget.json and budget.png. 0 = off; else a power of two.",
    )


def grade_all(task: Task, problems: list[Problem], completions: list[list[Completion]], label: str) -> None:
    """Extract and verify every completion in place, with a progress bar (code tasks run a sandbox here)."""
    total = sum(len(c) for c in completions)
    with progress_bar(f"verifying {label}", total=total, enabled=total > 0) as advance:
        for problem, group in zip(problems, completions):
            for completion in group:
                grade(task, completion, problem.gold)
            advance(len(group))


def evaluate_split(
    sampler: Sampler, task: Task, split: str, sampling: SamplingSection, ev: EvalSection, shots: int,
    iteration: int = 0,
) -> list[Record]:
    """Greedy completion (an episode of `ev.attempts` attempts) plus `ev.k` samples per problem of one split,
    all graded."""
    check_attempts(task, ev.attempts)
    problems = task.load(split, ev.limit)
    prompts = [task.format_prompt(p, shots) for p in problems]
    stop = task_stop(task, sampler)
    greedy = sampler.sample(prompts, with_stop(sampling.params(greedy=True), stop))
    samples = (sampler.sample(prompts, with_stop(sampling.model_copy(update={"n": ev.k}).params(), stop)) if ev.k
               else [[] for _ in problems])
    grade_all(task, problems, greedy, f"{split} greedy")
    if ev.attempts > 1:
        firsts = correct_attempts(sampler, task, problems, prompts, [g[0] for g in greedy],
                                  with_stop(sampling.params(greedy=True), stop), ev.attempts)
        greedy = [[c] for c in firsts]
    grade_all(task, problems, samples, f"{split} samples")
    return [
        Record(p.id, iteration, split, prompt, p.gold, p.metadata, g[0], s)
        for p, prompt, g, s in zip(problems, prompts, greedy, samples)
    ]
