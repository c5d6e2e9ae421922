"""Downstream tasks of STOP (Zelikman et al. 2024, sec. 5 and appendix A): each a program to improve and a
utility that scores it, one small file per task.

A task draws seeded instances on the host. Each instance has `args` (what the candidate's function is
called with) and `truth` (what only the scorer sees). The scorer is trusted code that runs in the
sandbox's tester process (standard library only): `check(output, truth, args) -> float in [0, 1]`, raising
`Malformed` for an output of the wrong type or shape -- the way the paper's LPN utility was gamed (an
array of an unexpected shape pushed its "accuracy" above 1000%). Instances come in two halves: the
validation half, which the improver's utility scores against, and the hidden test half, which only the
harness's final scoring ever sends to the sandbox. A third stream, `train`, is for the host alone: the
scaffold proposer's ground truth (selfimprove.stop.proposer_corpus) is measured on it, never on the halves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfimprove.errors import UserError

Instance = dict[str, Any]  # {"args": [...], "truth": ...}, plain data only


@dataclass(frozen=True)
class DownstreamTask:
    """One task: the function a solution defines, its seed solution, the utility's description shown to
    the model (the paper shows the utility's source), the instance generator and the tester-side scorer."""

    name: str
    about: str
    seed_solution: str
    utility_str: str
    make: Callable[[random.Random], Instance]
    scorer: str
    function: str = "algorithm"
    time_limit: float = 2.0  # seconds per instance (the paper's timeout); LPN's own is 100 ms


SPLIT_SALT = {"val": 1, "test": 2, "train": 3}


def instances(task: DownstreamTask, split: str, count: int, seed: int) -> list[Instance]:
    """`count` instances of `split` ('val', 'test' or the host's 'train'), the same for the same seed. Each
    split is its own stream, so no test instance is derived from what the improver sees."""
    if split not in SPLIT_SALT:
        raise UserError(f"a STOP split is 'val', 'test' or 'train', not {split!r}")
    rng = random.Random(f"stop/{task.name}/{split}/{seed}/{SPLIT_SALT[split]}")
    return [task.make(rng) for _ in range(count)]


def _registry() -> dict[str, DownstreamTask]:
    from selfimprove.stop.tasks import grid_dist, lpn, max_cut, three_sat

    return {t.name: t for t in (lpn.TASK, three_sat.TASK, max_cut.TASK, grid_dist.TASK)}


def task_names() -> tuple[str, ...]:
    return tuple(_registry())


def get_task(name: str) -> DownstreamTask:
    """The task called `name`, or a UserError listing the known ones."""
    tasks = _registry()
    if name not in tasks:
        raise UserError(f"unknown STOP task {name!r}; known: {', '.join(tasks)}")
    return tasks[name]
