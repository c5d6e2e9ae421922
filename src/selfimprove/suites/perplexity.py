"""Suite `perplexity`: the collapse monitor of the iterative recipe.

Shumailov et al. (Nature 2024) detect collapse as rising perplexity on real data of models trained on
their own output. A self-improvement loop trains on its own (filtered) samples too, so after every
iteration the loop scores the current model on real, held-out text: the reference solutions of the first
`limit` problems of the monitor split, each conditioned on its zero-shot prompt (only the solution's tokens
are scored, since the loop trains on completions, never on prompts). The split defaults to the first eval
split (`test` in the shipped configs): the loop trains on samples of the improvement split and on labeled
seed problems (keep_original), never on an eval split's reference solutions, so this text stays held out.
A rising mean (or a widening spread) means the model drifts away from real solutions even while its
accuracy may rise. Tasks without reference solutions (csqa) record why they were skipped. The model is
scored through the sampler's scoring protocol (types.Scorer); a sampler without one (a served model) is
skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from selfimprove.config import Section
from selfimprove.tasks import check_nonempty
from selfimprove.types import Scorer, Task

if TYPE_CHECKING:
    from selfimprove.suites import SuiteInput


class PerplexityMonitorSection(Section):
    """Perplexity of each iteration's model on held-out real text (the collapse monitor)."""

    enabled: bool = Field(True, description="Score every evaluated model on held-out reference solutions "
                                            "(a few forward passes; false = skip).")
    split: str | None = Field(None, description="Split whose reference solutions are scored; null = the first "
                                                "eval split. Must not be a split the loop trains on.")
    limit: int = Field(200, ge=1, description="Score the first N problems of the split that have a solution.")
    batch_size: int = Field(32, ge=1, description="Sequences per forward pass.")


def monitor_split(section: PerplexityMonitorSection, eval_splits: Sequence[str]) -> str | None:
    return section.split or (eval_splits[0] if eval_splits else None)


def monitor_splits(section: PerplexityMonitorSection, task: Task, eval_splits: Sequence[str]) -> list[str]:
    """The split the monitor reads (none when it is off)."""
    split = monitor_split(section, eval_splits)
    if not section.enabled or split is None:
        return []
    check_nonempty(task, split)
    return [split]


def monitor_metrics(section: PerplexityMonitorSection, inp: SuiteInput) -> dict[str, Any]:
    """{"perplexity": {...}} for the metrics.json of an iteration ({} when disabled or nothing to score)."""
    split = monitor_split(section, inp.eval_splits)
    if not section.enabled or split is None:
        return {}
    if not isinstance(inp.sampler, Scorer):
        return {"perplexity": {"split": split, "skipped": "the model is served remotely; no weights to score"}}
    from selfimprove.collapse.measure import summarize_perplexity

    task = inp.task
    problems = [p for p in task.load(split, None) if p.metadata.get("solution")][: section.limit]
    prompts = [task.format_prompt(p, 0) for p in problems]
    scores = inp.sampler.perplexities(prompts, [str(p.metadata["solution"]) for p in problems], section.batch_size)
    scored = [s for s in scores if s is not None]
    if not scored:
        return {"perplexity": {"split": split, "skipped": f"no reference solutions in split {split!r}"}}
    summary = summarize_perplexity([s.perplexity for s in scored]).to_dict()
    return {"perplexity": {"split": split, "scored": "reference solutions given the zero-shot prompt",
                           "tokens": sum(s.tokens for s in scored), **summary}}
