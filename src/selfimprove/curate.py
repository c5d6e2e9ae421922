"""Curation: graded records -> training rows. Pure functions, deterministic given their seed.

SFT rows are {"prompt", "completion"} (TRL's prompt-completion format, so the loss covers the completion
only); DPO rows are {"prompt", "chosen", "rejected"}. Both also carry "problem_id" and "source" (sample,
rationale, seed or reference) so every training row can be traced; the trainers read only the TRL columns.
A completion is "correct" by its strict verdict (the same one greedy pass@1 reports).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from selfimprove.errors import UserError
from selfimprove.types import Completion, Problem, Prompt, Record

Row = dict[str, Any]


def as_completion(prompt: Prompt, text: str) -> str | list[dict[str, str]]:
    """A completion in the same format as its prompt: text, or one assistant message for chat prompts."""
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]


def _unique(samples: list[Completion]) -> list[Completion]:
    """The first sample of each text, in first-seen order."""
    first: dict[str, Completion] = {}
    for c in samples:
        first.setdefault(c.text, c)
    return list(first.values())


def _steps(c: Completion) -> Row:
    """{'steps_ok': ...} for a step-checked sample, {} otherwise (code tasks, nothing checked)."""
    return {"steps_ok": c.steps_ok} if c.steps_ok is not None else {}


def split_by_verdict(
    samples: Sequence[Completion], dedupe: bool, require_valid_steps: bool = False
) -> tuple[list[Completion], list[Completion]]:
    """The correct and the incorrect samples (an unextractable answer is incorrect). With
    `require_valid_steps`, a correct sample whose step check found a wrong step (right answer, wrong
    reasoning; selfimprove.verify.steps) is in neither list: it is not trained on as a good example, nor
    used as a rejected one. A sample with nothing checked (`steps_ok` None) stays correct."""
    correct = [c for c in samples if c.correct and not (require_valid_steps and c.steps_ok is False)]
    wrong = [c for c in samples if not c.correct]
    return (_unique(correct), _unique(wrong)) if dedupe else (correct, wrong)


def sft_rows(records: Sequence[Record], max_per_problem: int | None, dedupe: bool, source: str = "sample",
             require_valid_steps: bool = False) -> list[Row]:
    """Rejection-sampling fine-tuning data: each problem's correct samples, duplicates dropped, at most K
    (ReST-EM keeps at most 10 per problem so easy problems do not dominate; Singh et al. 2023, Sec. 3).
    Rows of step-checked samples carry `steps_ok`, so the training data's wrong steps can be counted."""
    rows = []
    for record in records:
        correct, _ = split_by_verdict(record.samples, dedupe, require_valid_steps)
        for c in correct[:max_per_problem]:
            rows.append({"prompt": record.prompt, "completion": as_completion(record.prompt, c.text),
                         "problem_id": record.problem_id, "source": source, **_steps(c)})
    return rows


def with_hint(prompt: Prompt, hint: str) -> Prompt:
    """The prompt with a hint after the question: before the last line of a text prompt (the answer cue,
    e.g. 'A:'), or at the end of the last user message of a chat prompt."""
    if isinstance(prompt, list):
        last = max((i for i, m in enumerate(prompt) if m.get("role") == "user"), default=None)
        if last is None:
            raise UserError("cannot add a STaR hint: the chat prompt has no user message")
        return [{**m, "content": m["content"] + hint} if i == last else m for i, m in enumerate(prompt)]
    head, newline, cue = prompt.rpartition("\n")
    return f"{head}{hint}{newline}{cue}" if newline else prompt + hint


def hinted_records(records: Sequence[Record], hint: str) -> list[Record]:
    """STaR rationalization prompts (Zelikman et al. 2022, Sec. 3.2): for every problem with no correct
    sample, the same prompt with the gold answer as a hint. The unhinted prompt is kept in metadata."""
    out = []
    for r in records:
        if any(c.correct for c in r.samples):
            continue
        text = hint.format(gold=r.gold)
        meta = {**r.metadata, "unhinted_prompt": r.prompt, "hint": text}
        out.append(Record(r.problem_id, r.iteration, r.split, with_hint(r.prompt, text), r.gold, meta))
    return out


def rationale_rows(rationales: Sequence[Record], max_per_problem: int | None, dedupe: bool,
                   require_valid_steps: bool = False) -> list[Row]:
    """Rationales that reached the gold answer, trained on with the hint removed: the prompt is the
    original question, so the model learns to produce the rationale without being told the answer."""
    unhinted = [
        Record(r.problem_id, r.iteration, r.split, r.metadata["unhinted_prompt"], r.gold, r.metadata, None, r.samples)
        for r in rationales
    ]
    return sft_rows(unhinted, max_per_problem, dedupe, "rationale", require_valid_steps)


def dpo_pairs(records: Sequence[Record], pairs_per_problem: int, dedupe: bool, seed: int,
              require_valid_steps: bool = False) -> list[Row]:
    """Preference pairs from each problem's own samples: chosen = a correct sample, rejected = an incorrect
    one (Wu et al. 2024, Sec. 3). A problem with no correct or no incorrect sample gives no pair. At most
    `pairs_per_problem` distinct pairs, drawn uniformly from all (correct, incorrect) combinations.
    `steps_ok`, when present, is the chosen sample's step check."""
    rows = []
    for record in records:
        correct, wrong = split_by_verdict(record.samples, dedupe, require_valid_steps)
        combos = list(itertools.product(range(len(correct)), range(len(wrong))))
        rng = random.Random(f"{seed}/{record.problem_id}")
        for i, j in rng.sample(combos, min(pairs_per_problem, len(combos))):
            rows.append({"prompt": record.prompt, "chosen": as_completion(record.prompt, correct[i].text),
                         "rejected": as_completion(record.prompt, wrong[j].text),
                         "problem_id": record.problem_id, "source": "sample", **_steps(correct[i])})
    return rows


def reference_completion(prompt: Prompt, solution: str) -> str:
    """A labeled solution as a completion of `prompt`: separated by one space from a text prompt that ends in
    a non-space (as the seed model was trained, `Q: ...\\nA: <solution>`)."""
    if isinstance(prompt, str) and prompt and not prompt[-1].isspace() and not solution[:1].isspace():
        return " " + solution
    return solution


def seed_rows(problems: Sequence[Problem], prompts: Sequence[Prompt], fraction: float, seed: int,
              source: str = "seed") -> list[Row]:
    """A random fraction of the labeled problems with their reference solutions (metadata['solution']), drawn
    anew each iteration from `seed`: keep_original's seed rows, or (fraction 1) the gold control's rows."""
    count = round(fraction * len(problems))
    picked = sorted(random.Random(seed).sample(range(len(problems)), count))
    rows = []
    for i in picked:
        solution = problems[i].metadata.get("solution")
        if not solution:
            raise UserError(f"{source} rows need reference solutions, but problem {problems[i].id} has none "
                            "(metadata['solution']); choose a labeled split (or loop.keep_original=0)")
        text = reference_completion(prompts[i], str(solution))
        rows.append({"prompt": prompts[i], "completion": as_completion(prompts[i], text),
                     "problem_id": problems[i].id, "source": source})
    return rows


def dedupe_rows(rows: Sequence[Row]) -> list[Row]:
    """Rows with exact duplicates (same prompt and completion, or same prompt/chosen/rejected) removed."""
    seen, out = set(), []
    for row in rows:
        key = repr([row.get(k) for k in ("prompt", "completion", "chosen", "rejected")])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def mix(per_iteration: Sequence[list[Row]], policy: str, extra: Sequence[Row] = (), dedupe: bool = True) -> list[Row]:
    """The rows trained on at iteration t, given each earlier iteration's own rows (of the same method, the
    last one being t's): `replace` keeps t's only, `accumulate` all of them; `extra` (seed rows) is added."""
    if policy not in ("replace", "accumulate"):
        raise UserError(f"unknown mixing policy {policy!r}; use replace or accumulate")
    chosen = list(per_iteration[-1:]) if policy == "replace" else list(per_iteration)
    rows = [row for rows in chosen for row in rows] + list(extra)
    return dedupe_rows(rows) if dedupe else rows
