"""Real corpora as token blocks: what generation 0 trains on, what every generation continues, and what
perplexity is measured on.

* A task with a `blocks(tokenizer, split, block_size)` method (wikitext2) cuts its own text.
* Any other task whose problems carry a reference solution (`metadata["solution"]`: arith, gsm8k, math,
  mbpp, humaneval) becomes text: each problem's prompt followed by its reference solution, as the
  pretraining of the tiny seed model and few-shot prompts show them (`Q: ...\\nA: <solution>` for arith).

Texts are tokenized, joined with the end-of-text token and cut into equal blocks, the remainder dropped
(the grouping of the Hugging Face `run_clm` recipe, which Shumailov et al. 2024 use with 64-token blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfimprove.errors import UserError
from selfimprove.types import Problem, Task


def split_into_blocks(token_ids: Sequence[int], block_size: int = 64) -> list[list[int]]:
    """Cut a token stream into consecutive blocks of `block_size` (paper: 64), dropping the short
    remainder so that every block has the same length."""
    if block_size < 1:
        raise UserError(f"block_size must be >= 1, got {block_size}")
    ids = list(token_ids)
    return [ids[i : i + block_size] for i in range(0, len(ids) - block_size + 1, block_size)]


def solution_text(task: Task, problem: Problem) -> str | None:
    """`<prompt> <reference solution>` for a text prompt with a solution; None otherwise (no solution, or a
    chat-message prompt that has no single text form)."""
    solution = problem.metadata.get("solution")
    prompt = task.format_prompt(problem, 0)
    if not solution or not isinstance(prompt, str):
        return None
    return f"{prompt} {str(solution).strip()}"


def text_blocks(tokenizer: Any, texts: Sequence[str], block_size: int) -> list[list[int]]:
    """Texts tokenized (no special tokens), joined with EOS, cut into blocks of `block_size` tokens."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.extend([*ids, *eos])
    return split_into_blocks(stream, block_size)


def corpus_blocks(task: Task, tokenizer: Any, split: str, block_size: int, limit: int | None = None) -> list[list[int]]:
    """The first `limit` blocks (all when None) of a task split as real text; a UserError when the task has
    no text to offer or the split is too short for one block."""
    if hasattr(task, "blocks"):
        blocks = task.blocks(tokenizer, split, block_size)
    else:
        texts = [t for p in task.load(split) if (t := solution_text(task, p)) is not None]
        if not texts:
            raise UserError(
                f"task {task.name!r} split {split!r} has no reference solutions to use as real text; "
                "use a corpus task (wikitext2) or a task whose problems carry solutions (arith, gsm8k, math)"
            )
        blocks = text_blocks(tokenizer, texts, block_size)
    if not blocks:
        raise UserError(f"{task.name} split {split!r} is shorter than one block of {block_size} tokens")
    return blocks[:limit] if limit is not None else blocks
