"""Two-attempt self-correction metrics (Kumar et al. 2024, "Training Language Models to Self-Correct via
Reinforcement Learning", SCoRe, Sec. 6): accuracy at each attempt, the gain Δ(t1, t2) and its two parts,
the share of problems turned from incorrect to correct and from correct to incorrect."""

from __future__ import annotations


def correction_metrics(first: list[bool], second: list[bool]) -> dict[str, float | int]:
    """Acc@t1, Acc@t2, Δ = Acc@t2 − Acc@t1, Δi→c and Δc→i (shares of all problems), and `n`."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first attempts but {len(second)} second attempts; pair them one to one")
    n = len(first)
    if n == 0:
        return {"n": 0, "acc_t1": 0.0, "acc_t2": 0.0, "delta": 0.0, "delta_i2c": 0.0, "delta_c2i": 0.0}
    acc1, acc2 = sum(first) / n, sum(second) / n
    return {
        "n": n,
        "acc_t1": acc1,
        "acc_t2": acc2,
        "delta": acc2 - acc1,
        "delta_i2c": sum(not a and b for a, b in zip(first, second)) / n,
        "delta_c2i": sum(a and not b for a, b in zip(first, second)) / n,
    }
