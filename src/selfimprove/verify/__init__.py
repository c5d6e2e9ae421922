"""Grading a completion against its gold answer: `grade` (the task's extraction and verification, strict
and flexible, plus the step check of arithmetic chains of thought, steps.py)."""

from __future__ import annotations

from selfimprove.types import Completion, Task


def grade(task: Task, completion: Completion, gold: str) -> Completion:
    """Fill in a completion's extracted answers and correctness, strict and flexible (extraction is kept apart
    from scoring, as in lm-evaluation-harness), and its step check when the task has one."""
    completion.answer = task.extract(completion.text, "strict")
    completion.correct = task.verify(completion.answer, gold)
    completion.answer_flexible = task.extract(completion.text, "flexible")
    completion.correct_flexible = task.verify(completion.answer_flexible, gold)
    check_steps = getattr(task, "check_steps", None)
    if check_steps is not None:
        from selfimprove.verify.steps import record_steps

        record_steps(completion, check_steps(completion.text))
    return completion
