"""The improvement set and the "capability illusion" test (Wu et al. 2024, "Progress or Regress?").

IS(t) is the set of problems that model M_t solves greedily and the reference model M_1 does not (in a
run directory the reference is usually iter_000, the starting model). If M_1 already solves most of
IS(t) with a few samples, i.e. M_1's pass@k on IS(t) is high for small k, then post-training did not
teach new problem solving: it moved probability onto answers M_1 could already produce, and the pass@1
gain is selection rather than new ability. So we report M_1's pass@k on IS(t) for every k = 2..N,
with Chen et al. 2021's unbiased estimator over M_1's N samples of each problem.

Problems are matched by (split, problem_id); problems present in only one of the two record lists, or
lacking a greedy completion in either, are ignored (`n_compared` says how many were compared).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfimprove.metrics.passk import pass_at_k
from selfimprove.metrics.records import greedy_grade, sample_grades
from selfimprove.types import Record


def _by_key(records: Sequence[Record]) -> dict[tuple[str, str], Record]:
    return {(r.split, r.problem_id): r for r in records}


def improvement_ids(records_t: Sequence[Record], records_1: Sequence[Record]) -> tuple[list[tuple[str, str]], int]:
    """The (split, problem_id) keys of IS(t), sorted, and how many problems both models answered greedily."""
    later, first = _by_key(records_t), _by_key(records_1)
    improved, compared = [], 0
    for key in sorted(later.keys() & first.keys()):
        now, before = greedy_grade(later[key]), greedy_grade(first[key])
        if now is None or before is None:
            continue
        compared += 1
        if now and not before:
            improved.append(key)
    return improved, compared


def improvement_set(records_t: Sequence[Record], records_1: Sequence[Record]) -> dict[str, Any]:
    """IS(t) with its size, the share of compared problems it is, and M_1's pass@k on it for k = 2..N.

    N is the fewest samples M_1 has for any problem of IS(t); `m1_pass@k` is {} when IS(t) is empty or
    M_1 has fewer than two samples there."""
    improved, compared = improvement_ids(records_t, records_1)
    first = _by_key(records_1)
    grades = [sample_grades(first[key]) for key in improved]
    n = min((len(v) for v in grades), default=0)
    m1_pass = {str(k): float(np.mean([pass_at_k(len(v), sum(v), k) for v in grades])) for k in range(2, n + 1)}
    return {
        "n_compared": compared,
        "size": len(improved),
        "fraction": len(improved) / compared if compared else None,
        "problem_ids": [problem_id for _, problem_id in improved],
        "m1_samples": n,
        "m1_pass@k": m1_pass,
    }
