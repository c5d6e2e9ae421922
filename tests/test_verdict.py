"""The rule-based verdict on constructed metric histories: each signal alone, none, and the labels."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from selfimprove.errors import UserError
from selfimprove.verdict import HIDDEN, VerdictConfig, decide


def iteration(
    p1: float = 0.5,
    cov: float = 0.8,
    distinct: float = 0.5,
    sem: float = 0.3,
    logical: float = 2.0,
    ood: float | None = 0.3,
    disp: float | None = 0.4,
) -> dict[str, Any]:
    """One iteration's metrics in the shape summarize_splits writes (only the keys the verdict reads)."""
    test = {
        "greedy_pass@1": p1,
        "coverage@N": cov,
        "samples_per_problem": 16,
        "diversity": {
            "correct": {"distinct-4": distinct, "semantic": sem, "logical": logical},
            "incorrect": {"distinct-4": 0.9, "semantic": 0.6, "logical": 5.0},
        },
        "disparity": disp,
    }
    out: dict[str, Any] = {"test": test}
    if ood is not None:
        out["ood"] = {"greedy_pass@1": ood}
    return out


HEALTHY = {"p1": 0.6, "cov": 0.85}


def test_real_progress_fires_no_hidden_signal() -> None:
    v = decide([iteration(), iteration(p1=0.55), iteration(**HEALTHY)])
    assert v.label == "progress"
    assert v.fired() == ["id_pass@1_gain"]
    assert (v.baseline, v.compared) == (0, 2)
    gain = v.signals[0]
    assert gain.before == 0.5 and gain.after == 0.6 and gain.change == pytest.approx(0.1)
    assert "50.0%" in gain.sentence and "60.0%" in gain.sentence and "+10.0 points" in gain.sentence
    json.dumps(v.to_dict())


@pytest.mark.parametrize(
    ("name", "after", "number"),
    [
        ("coverage_stalled", {"cov": 0.8}, "+0.0 points"),
        ("lexical_diversity_drop", {"distinct": 0.4}, "-20.0% relative"),
        ("semantic_diversity_drop", {"sem": 0.2}, "-33.3% relative"),
        ("logical_diversity_drop", {"logical": 1.5}, "-25.0% relative"),
        ("ood_pass@1_drop", {"ood": 0.25}, "-5.0 points"),
        ("disparity_growth", {"disp": 0.5}, "+0.100"),
    ],
)
def test_each_hidden_signal_alone_makes_a_reversal(name: str, after: dict[str, float], number: str) -> None:
    v = decide([iteration(), iteration(**{**HEALTHY, **after})])
    assert v.label == "reversal"
    assert v.fired() == ["id_pass@1_gain", name]
    signal = next(s for s in v.signals if s.name == name)
    assert number in signal.sentence
    assert HIDDEN[name] in v.summary


def test_falling_pass1_is_regress() -> None:
    v = decide([iteration(), iteration(p1=0.4, cov=0.9)])
    assert v.label == "regress" and "fell" in v.summary and v.fired() == []


def test_flat_pass1_with_stalled_coverage_is_flat_but_with_ood_drop_is_regress() -> None:
    flat = decide([iteration(), iteration(p1=0.505)])
    assert flat.label == "flat" and flat.fired() == ["coverage_stalled"]
    worse = decide([iteration(), iteration(p1=0.505, ood=0.2)])
    assert worse.label == "regress" and "OOD pass@1 fell" in worse.summary


def test_thresholds_are_inclusive_for_gains_and_strict_for_drops() -> None:
    v = decide([iteration(p1=0.41, cov=0.5), iteration(p1=0.42, cov=0.6, distinct=0.45, ood=0.29)])
    assert v.signals[0].fired  # +1.0 point rise reaches min_pass1_gain = 0.01 despite float rounding
    assert v.label == "progress"  # a 10% diversity drop and a 1-point OOD drop are not *more than* the limits


def test_custom_thresholds_change_what_fires() -> None:
    history = [iteration(), iteration(**HEALTHY, distinct=0.45)]
    assert decide(history).label == "progress"
    strict = VerdictConfig(diversity_max_drop=0.05)
    assert decide(history, strict).fired() == ["id_pass@1_gain", "lexical_diversity_drop"]


def test_unmeasured_signals_do_not_fire_and_say_so() -> None:
    v = decide([iteration(ood=None, disp=None), iteration(**HEALTHY, ood=None, disp=None)])
    assert v.label == "progress"
    ood = next(s for s in v.signals if s.name == "ood_pass@1_drop")
    assert not ood.fired and "not measured" in ood.sentence


def test_compare_to_best_iteration() -> None:
    history = [iteration(), iteration(p1=0.7, cov=0.9), iteration(p1=0.55, cov=0.8)]
    assert decide(history).compared == 2 and decide(history).label == "reversal"
    best = decide(history, VerdictConfig(compare_to="best"))
    assert best.compared == 1 and best.label == "progress"


def test_bad_input_and_config() -> None:
    with pytest.raises(UserError, match="need iteration 0"):
        decide([iteration()])
    with pytest.raises(UserError, match="split 'valid'"):
        decide([iteration(), iteration()], VerdictConfig(id_split="valid"))
    with pytest.raises(ValidationError):
        VerdictConfig(min_pass_gain=0.02)  # typo: unknown keys are errors
    with pytest.raises(ValidationError):
        VerdictConfig(ood_max_drop=-0.1)
    assert all(f.description for f in VerdictConfig.model_fields.values())
