"""Right answer, wrong reasoning: false-positive rate and CoT-pass@k from step checks (verify/steps.py).

- false-positive rate: the share of answer-correct completions (strict grade) whose step check found a
  wrong step, among the answer-correct completions with at least one step checked (Wang et al. 2025,
  arXiv 2502.06217, call these false positives of outcome verification). Samples and greedy completions
  are counted apart.
- CoT-pass@k (Wen et al. 2025, arXiv 2506.14245, "Reinforcement Learning with Verifiable Rewards
  Implicitly Incentivizes Correct Reasoning in Base LLMs"): pass@k where a sample counts only when
  its answer is right *and* its reasoning is; Chen et al.'s unbiased estimator with c = samples whose
  answer is right and whose step check passed (`steps_ok` True: at least one statement checked, none
  wrong). A sample with nothing checked does not count, so CoT-pass@k <= pass@k always.
- checked share: the share of completions with at least one statement checked, which says how much of
  the reasoning the numbers above rest on.

All rates are None when there is nothing to divide by; `step_metrics` is None when no completion was
step-checked at all (a task without a step check, e.g. code).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfimprove.metrics.passk import pass_at_k, powers_of_two
from selfimprove.types import Completion, Record


def cot_correct(c: Completion) -> bool:
    """Answer right (strict) and step check passed: what CoT-pass@k counts."""
    return bool(c.correct) and c.steps_ok is True


def false_positive_rate(completions: Sequence[Completion]) -> float | None:
    """Share of answer-correct, step-checked completions with a wrong step; None when there are none."""
    checked = [c for c in completions if c.correct and c.steps_ok is not None]
    return sum(c.steps_ok is False for c in checked) / len(checked) if checked else None


def checked_share(completions: Sequence[Completion]) -> float | None:
    return sum(c.steps_ok is not None for c in completions) / len(completions) if completions else None


def step_metrics(records: Sequence[Record]) -> dict[str, Any] | None:
    """false_positive_rate (samples), greedy_false_positive_rate, greedy_cot_pass@1, cot_pass@k {k: value}
    for k = 1, 2, 4, ... <= N, checked_share, and the counts behind them; None when nothing was checked."""
    samples = [c for r in records for c in r.samples]
    greedy = [r.greedy for r in records if r.greedy is not None]
    if not any(c.steps_ok is not None for c in [*samples, *greedy]):
        return None
    sampled = [r for r in records if r.samples]
    ks = powers_of_two(min(len(r.samples) for r in sampled)) if sampled else []
    cot = [(len(r.samples), sum(cot_correct(c) for c in r.samples)) for r in sampled]
    return {
        "checked_share": checked_share([*samples, *greedy]),
        "answer_correct_samples": sum(bool(c.correct) for c in samples),
        "wrong_step_samples": sum(bool(c.correct) and c.steps_ok is False for c in samples),
        "false_positive_rate": false_positive_rate(samples),
        "greedy_false_positive_rate": false_positive_rate(greedy),
        "greedy_cot_pass@1": float(np.mean([cot_correct(c) for c in greedy])) if greedy else None,
        "cot_pass@k": {str(k): float(np.mean([pass_at_k(n, c, k) for n, c in cot])) for k in ks},
    }
