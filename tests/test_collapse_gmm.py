"""The Gaussian-mixture collapse demonstration (Shumailov et al. 2024, Gaussian model section)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from selfimprove.collapse.gmm import GMMConfig, gmm_to_json, mixture_variance, run_gmm
from selfimprove.collapse.plots import gmm_figure_data_uri, save_gmm
from selfimprove.config import load_config
from selfimprove.errors import UserError

SEEDS = range(6)


def test_mixture_variance_law_of_total_variance() -> None:
    # Two unit Gaussians at -2 and 2 with equal weights: 1 (within) + 4 (between) = 5.
    assert mixture_variance(np.array([-2.0, 2.0]), np.array([1.0, 1.0]), np.array([0.5, 0.5])) == pytest.approx(5.0)
    assert mixture_variance(np.array([3.0]), np.array([0.5]), np.array([1.0])) == pytest.approx(0.25)


def test_single_gaussian_variance_collapses() -> None:
    """The paper's theorem: refitting a Gaussian on M of its own samples drives the variance to 0.
    The MLE variance shrinks by (M-1)/M per generation in expectation (0.98^100 = 0.13 here) and
    almost surely tends to 0, so the median over seeds is far below the true variance (measured:
    0.004-0.025 for five disjoint sets of six seeds)."""
    finals = []
    for seed in SEEDS:
        cfg = GMMConfig(
            generations=100, samples_per_generation=50, seed=seed, eval_samples=200,
            true_means=[0.0], true_stds=[1.0], true_weights=[1.0],
        )
        rows = run_gmm(cfg).rows
        assert rows[0].variance == pytest.approx(1.0, rel=0.5)  # generation 0 fits the real data
        finals.append(rows[-1].variance)
    assert np.median(finals) < 0.1


def test_mixture_components_collapse_and_drift_away() -> None:
    """Two-component mixture, M=100: the spread inside components collapses, and the fit moves away
    from the true distribution (W1 and KL grow). Measured over five disjoint sets of six seeds: mean
    within-component variance 0.02-0.07 (true: 1), W1 0.21-0.29 -> 1.65-2.46, KL 0.01-0.04 -> 260+."""
    within, w1_start, w1_end, kl_start, kl_end = [], [], [], [], []
    for seed in SEEDS:
        rows = run_gmm(GMMConfig(generations=100, samples_per_generation=100, seed=seed, eval_samples=300)).rows
        assert len(rows) == 101 and [r.generation for r in rows] == list(range(101))
        within.append(rows[-1].within_variance)
        w1_start.append(rows[0].wasserstein1)
        w1_end.append(rows[-1].wasserstein1)
        kl_start.append(rows[0].kl)
        kl_end.append(rows[-1].kl)
    assert np.mean(within) < 0.3  # true within-component variance is 1.0
    assert np.mean(w1_end) > 2 * np.mean(w1_start)
    assert np.mean(kl_end) > 10 * np.mean(kl_start)


def test_run_is_seeded_and_serializable(tmp_path) -> None:  # noqa: ANN001
    cfg = GMMConfig(generations=5, eval_samples=200, seed=3)
    first, second = run_gmm(cfg), run_gmm(cfg)
    assert gmm_to_json(first) == gmm_to_json(second)
    assert gmm_to_json(run_gmm(cfg.model_copy(update={"seed": 4}))) != gmm_to_json(first)
    data = json.loads(gmm_to_json(first))
    assert data["true_variance"] == pytest.approx(5.0) and len(data["rows"]) == 6
    assert all(r["means"] == sorted(r["means"]) for r in data["rows"])
    paths = save_gmm(first, tmp_path / "out")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths["json"].read_text()) == data
    assert gmm_figure_data_uri(first).startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"true_weights": [0.3, 0.3]}, "sum to 1"),
        ({"true_stds": [1.0, 0.0]}, "> 0"),
        ({"true_means": [0.0]}, "same length"),
        ({"samples": 10}, "samples"),
        ({"samples_per_generation": 1}, "samples_per_generation"),
    ],
)
def test_bad_config_is_a_user_error(values: dict, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        load_config(GMMConfig, overrides=[f"{key}={json.dumps(value)}" for key, value in values.items()])
