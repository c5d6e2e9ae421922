"""Reading verdicts out of Records, in one place, so every metric treats a missing verdict the same way.

A completion whose `correct` (strict) or `correct_flexible` is None was never graded. Counting it as
wrong would silently lower every accuracy, so the metrics refuse it and say how to fix it.
"""

from __future__ import annotations

from selfimprove.errors import UserError
from selfimprove.types import Completion, Record


def is_correct(completion: Completion, flexible: bool = False, where: str = "a completion") -> bool:
    """The strict (default) or flexible verdict of a completion; a UserError when it was never graded."""
    verdict = completion.correct_flexible if flexible else completion.correct
    if verdict is None:
        kind = "flexible" if flexible else "strict"
        raise UserError(
            f"{where} has no {kind} verdict; grade completions (selfimprove.verify.grade) before computing metrics"
        )
    return bool(verdict)


def sample_verdicts(record: Record, flexible: bool = False) -> list[bool]:
    """The verdict of each of a record's samples, in sample order."""
    return [
        is_correct(c, flexible, f"sample {i} of problem {record.problem_id!r}") for i, c in enumerate(record.samples)
    ]


def sample_answers(record: Record, flexible: bool = False) -> list[str | None]:
    """The extracted answer of each sample (strict or flexible), for majority voting."""
    return [c.answer_flexible if flexible else c.answer for c in record.samples]


def greedy_verdict(record: Record, flexible: bool = False) -> bool | None:
    """The verdict of the greedy completion; None when the record has no greedy completion."""
    if record.greedy is None:
        return None
    return is_correct(record.greedy, flexible, f"the greedy completion of problem {record.problem_id!r}")
