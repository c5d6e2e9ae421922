"""Collapse monitor for the self-improvement strategies (sft, star, dpo, sft-dpo).

Shumailov et al. (Nature 2024) detect collapse as rising perplexity on real data of models trained on
their own output. A self-improvement loop trains on its own (filtered) samples too, so after every
iteration the loop scores the current model on real, held-out text: the reference solutions of the first
`limit` problems of the monitor split, each conditioned on its zero-shot prompt (only the solution's tokens
are scored, since the loop trains on completions, never on prompts). The split defaults to the first eval
split (`test` in the shipped configs): the loop trains on samples of the improvement split and on labeled
seed problems (keep_original), never on an eval split's reference solutions, so this text stays held out.
A rising mean (or a widening spread) means the model drifts away from real solutions even while its
accuracy may rise. Tasks without reference solutions (csqa) record why they were skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from selfimprove.config import Section
from selfimprove.sampling import ChatPrompts, as_chat
from selfimprove.types import Problem, Task


class PerplexityMonitorSection(Section):
    """Perplexity of each iteration's model on held-out real text (the collapse monitor)."""

    enabled: bool = Field(True, description="Score every evaluated model on held-out reference solutions "
                                            "(a few forward passes; false = skip).")
    split: str | None = Field(None, description="Split whose reference solutions are scored; null = the first "
                                                "eval split. Must not be a split the loop trains on.")
    limit: int = Field(200, ge=1, description="Score the first N problems of the split that have a solution.")
    batch_size: int = Field(32, ge=1, description="Sequences per forward pass.")


def _encoded(sampler: Any, task: Task, problems: list[Problem], chat: bool) -> tuple[list[list[int]], list[int]]:
    """prompt + solution token ids and the position of the solution's first token, per problem with a
    solution that fits the model's context. The prompt is encoded as the sampler encodes it (through the
    chat template when `chat`), so the solution is scored where the model's own answer would start."""
    limit = getattr(sampler.model.config, "max_position_embeddings", None)
    blocks, starts = [], []
    for problem in problems:
        solution = problem.metadata.get("solution")
        if not solution:
            continue
        prompt = task.format_prompt(problem, 0)
        prompt = as_chat(prompt) if chat else prompt
        prompt_ids = sampler.encode(prompt)
        text = f" {str(solution).strip()}" if isinstance(prompt, str) else str(solution).strip()
        solution_ids = sampler.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = [*prompt_ids, *solution_ids]
        if solution_ids and len(prompt_ids) >= 1 and (limit is None or len(ids) <= limit):
            blocks.append(ids)
            starts.append(len(prompt_ids))
    return blocks, starts


def monitor_metrics(
    section: PerplexityMonitorSection, task: Task, sampler: Any, eval_splits: Sequence[str]
) -> dict[str, Any]:
    """{"perplexity": {...}} for the metrics.json of an iteration ({} when disabled or nothing to score).
    `sampler` holds the evaluated model; a remote (OpenAI-compatible) sampler has no weights to score."""
    split = section.split or (eval_splits[0] if eval_splits else None)
    if not section.enabled or split is None:
        return {}
    chat = isinstance(sampler, ChatPrompts)  # model.chat: text prompts go through the chat template
    local = sampler.inner if chat else sampler
    if not hasattr(local, "model"):
        return {"perplexity": {"split": split, "skipped": "the model is served remotely; no weights to score"}}
    from selfimprove.collapse.perplexity import block_perplexities, summarize_perplexity

    problems = [p for p in task.load(split, None) if p.metadata.get("solution")][: section.limit]
    blocks, starts = _encoded(local, task, problems, chat)
    if not blocks:
        return {"perplexity": {"split": split, "skipped": f"no reference solutions in split {split!r}"}}
    ppl = block_perplexities(local.model, blocks, section.batch_size, show_progress=True, score_from=starts)
    summary = summarize_perplexity(ppl).to_dict()
    scored = sum(len(b) - s for b, s in zip(blocks, starts))
    return {"perplexity": {"split": split, "scored": "reference solutions given the zero-shot prompt",
                           "tokens": scored, **summary}}
