"""Generalization: greedy pass@1 per difficulty level, the easy-hard disparity, and the ID-OOD gap.

Wu et al. 2024 ("Progress or Regress?") report that self-improvement gains concentrate on easy problems
and can come with worse out-of-distribution accuracy. We measure:

- pass@1 per difficulty: greedy accuracy of the problems of each `metadata["difficulty"]` level (an int:
  the number of steps for `arith`, the level 1-5 for MATH). Records without a difficulty are left out.
- disparity = (pass@1(easiest) - pass@1(hardest)) / pass@1(easiest), over the lowest and highest levels
  present: the share of its easy-problem accuracy the model loses on the hardest problems (0 = none,
  1 = all; negative when hard problems go better). It is None when fewer than two levels have greedy
  results, or when pass@1(easiest) is 0: there is no easy-problem accuracy to lose a share of, and any
  number there (0, or minus infinity) would read as a real measurement.
- the ID-OOD gap: pass@1 on the in-distribution test split minus pass@1 on the OOD split.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from selfimprove.errors import UserError
from selfimprove.metrics.records import greedy_grade
from selfimprove.types import Record


def difficulty_of(record: Record) -> int | None:
    """The record's integer difficulty level, None when it has none; a UserError when it is not an integer."""
    value = record.metadata.get("difficulty")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not (isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)):
        raise UserError(
            f"problem {record.problem_id!r} has difficulty {value!r}; metadata['difficulty'] must be an integer level"
        )
    return int(value)


def pass1_by_difficulty(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """{level: {'n', 'pass@1', 'pass@1_flexible'}} over records with a difficulty and a greedy completion,
    keyed by the level as a string (JSON object keys), in increasing level order."""
    strict: dict[int, list[bool]] = defaultdict(list)
    flexible: dict[int, list[bool]] = defaultdict(list)
    for record in records:
        level = difficulty_of(record)
        grade = greedy_grade(record)
        if level is None or grade is None:
            continue
        strict[level].append(grade)
        flexible[level].append(bool(greedy_grade(record, flexible=True)))
    return {
        str(level): {
            "n": len(strict[level]),
            "pass@1": float(np.mean(strict[level])),
            "pass@1_flexible": float(np.mean(flexible[level])),
        }
        for level in sorted(strict)
    }


def disparity(per_level: dict[str, dict[str, Any]], key: str = "pass@1") -> float | None:
    """(pass@1(easiest) - pass@1(hardest)) / pass@1(easiest); None when undefined (see module docstring)."""
    if len(per_level) < 2:
        return None
    levels = sorted(per_level, key=int)
    easy, hard = per_level[levels[0]][key], per_level[levels[-1]][key]
    if easy == 0:
        return None
    return float((easy - hard) / easy)


def ood_gap(id_pass1: float | None, ood_pass1: float | None) -> float | None:
    """In-distribution pass@1 minus OOD pass@1; None when either is missing."""
    if id_pass1 is None or ood_pass1 is None:
        return None
    return float(id_pass1 - ood_pass1)
