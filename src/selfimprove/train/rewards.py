"""Verifiable rewards for the RL trainers (GRPO, SCoRe): a completion earns 1.0 when the task's verifier
accepts its strictly extracted answer, else 0.0 (the outcome reward of RLVR: Lambert et al. 2024, Tülu 3).

RL rows carry `prompt`, `gold` and `task` (the task's name and options as JSON), so that a trainer rebuilds
the verifier from the rows alone (every trainer's signature is `fit(model, tokenizer, rows, cfg, work)`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from selfimprove.types import Completion, Task
from selfimprove.verify import grade

RL_COLUMNS = ("prompt", "gold", "task")


def task_spec(name: str, options: dict[str, Any]) -> str:
    """The `task` column of an RL row: the task's name and options, as JSON."""
    return json.dumps({"name": name, "options": options}, sort_keys=True)


@lru_cache(maxsize=4)
def task_of(spec: str) -> Task:
    """The task a `task` column names (built once per spec)."""
    from selfimprove.tasks import get_task

    data = json.loads(spec)
    return get_task(data["name"], **data["options"])


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or (conversational) the assistant messages' content."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def verified_reward(prompts: list[Any], completions: list[Any], gold: list[str], task: list[str],
                    **_: Any) -> list[float]:
    """TRL reward function: 1.0 for each completion the task verifies against its gold answer, else 0.0
    (code tasks run their tests in the sandbox here)."""
    return [float(bool(grade(task_of(spec), Completion(completion_text(c)), g).correct))
            for c, g, spec in zip(completions, gold, task)]
