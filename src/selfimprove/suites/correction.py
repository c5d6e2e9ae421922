"""Evaluation suite `correction`: the two-attempt self-correction of every evaluated model (Kumar et al. 2024,
SCoRe): each greedy answer of the evaluation is followed by the task's correction instruction and a greedy
second attempt. metrics.json gets `correction` {split: Acc@t1, Acc@t2, Δ, Δi→c, Δc→i with paired intervals}
and the episodes go to correction.jsonl; the evaluation's own greedy metrics keep reading the first answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from selfimprove.attempts import check_attempts, correct_attempts
from selfimprove.config import Section
from selfimprove.jsonl import write_jsonl
from selfimprove.metrics.correction import records_correction
from selfimprove.types import Problem, Record, Task, task_stop, with_stop

FILE = "correction.jsonl"


class CorrectionSuite(Section):
    enabled: bool = Field(False, description="Follow every greedy answer with one self-correction and report Acc@t1, "
                                             "Acc@t2, Δ, Δi→c and Δc→i per split (the task needs a correction "
                                             "instruction).")


def correction_splits(section: CorrectionSuite, task: Task, eval_splits: Sequence[str]) -> list[str]:
    """No extra split; a task without a correction instruction is refused before any model is loaded."""
    if section.enabled:
        check_attempts(task, 2)
    return []


def correction_metrics_suite(section: CorrectionSuite, inp: Any) -> dict[str, Any]:
    """{"correction": {split: metrics}} of the evaluation's greedy answers, each corrected once ({} when off)."""
    graded = [r for r in inp.records if r.greedy is not None]
    if not section.enabled or not graded:
        return {}
    params = with_stop(inp.sampling.params(greedy=True), task_stop(inp.task, inp.sampler))
    episodes = correct_attempts(inp.sampler, inp.task, [Problem(r.problem_id, r.prompt, r.gold) for r in graded],
                                [r.prompt for r in graded], [r.greedy for r in graded], params, 2)
    records = [Record(r.problem_id, r.iteration, r.split, r.prompt, r.gold, r.metadata, e)
               for r, e in zip(graded, episodes)]
    write_jsonl(inp.out_dir / FILE, (r.to_dict() for r in records))
    splits = sorted({r.split for r in records})
    return {"correction": {s: records_correction([r for r in records if r.split == s]) for s in splits}}
