"""Model collapse in its simplest form: a Gaussian mixture refitted, generation after generation, on
samples drawn from the previous generation's fit.

Shumailov et al. (Nature 2024), "AI models collapse when trained on recursively generated data", analyse
the single-dimensional Gaussian case: each generation estimates mean and variance from M samples of the
previous generation's model (with the unbiased variance estimator); they show the variance goes to zero
almost surely and the Wasserstein-2 distance to the original distribution grows, however large M is.
Their supplementary figure shows the same for a Gaussian mixture model fitted by EM. scikit-learn's EM
returns the maximum-likelihood variance, which in addition shrinks in expectation by (M-1)/M per
generation. This module runs that experiment with scikit-learn's `GaussianMixture` in one dimension:

* generation 0 is fitted on M samples of the true mixture;
* generation g >= 1 is fitted on M samples drawn from generation g-1's fitted mixture;
* every generation records its component means, standard deviations and weights (sorted by mean, so
  that EM's arbitrary component order does not scramble the curves), the variance of the whole fitted
  mixture and its within-component part sum_k w_k s_k^2 (the part that collapses first: a mixture can
  keep its between-component spread while each component shrinks to a spike), and two distances to
  the true distribution:
    - `wasserstein1`: W1 between `eval_samples` draws of the true mixture (one fixed set for the whole
      run) and `eval_samples` fresh draws of the fitted mixture, by `scipy.stats.wasserstein_distance`
      (a Monte Carlo estimate; its noise floor is a few hundredths at 10,000 samples);
    - `kl`: KL(true || fitted), by Monte Carlo over the same fixed true draws,
      mean[log p_true(x) - log q_fit(x)] (q from `score_samples`). It grows
      without bound once the fit puts almost no mass where the true distribution has it (the lost tails).

Everything is seeded: the same config gives the same numbers.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import logsumexp
from scipy.stats import norm, wasserstein_distance
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits



class GMMConfig(BaseModel):
    """The Gaussian-mixture collapse experiment (Shumailov et al. 2024, Gaussian model section)."""

    model_config = ConfigDict(extra="forbid")

    generations: int = Field(
        200, ge=0, description="Recursive refits after generation 0 (the run has generations+1 fitted models)."
    )
    samples_per_generation: int = Field(
        100, ge=2, description="M: samples each generation is fitted on (smaller M collapses faster)."
    )
    seed: int = Field(0, description="Seed for every random draw and every EM initialisation.")
    true_means: list[float] = Field([-2.0, 2.0], min_length=1, description="Means of the true 1-D mixture.")
    true_stds: list[float] = Field([1.0, 1.0], min_length=1, description="Standard deviations of the true mixture.")
    true_weights: list[float] = Field([0.5, 0.5], min_length=1, description="Mixing weights (sum to 1).")
    n_components: int | None = Field(
        None, ge=1, description="Components of the fitted mixture; default: as many as the true mixture."
    )
    eval_samples: int = Field(
        10_000, ge=100, description="Monte Carlo samples used to estimate W1 and KL to the true mixture."
    )

    @model_validator(mode="after")
    def _check_mixture(self) -> GMMConfig:
        sizes = {len(self.true_means), len(self.true_stds), len(self.true_weights)}
        if len(sizes) != 1:
            raise ValueError("true_means, true_stds and true_weights must have the same length")
        if min(self.true_stds) <= 0:
            raise ValueError("true_stds must all be > 0")
        if min(self.true_weights) < 0 or abs(sum(self.true_weights) - 1.0) > 1e-6:
            raise ValueError("true_weights must be >= 0 and sum to 1")
        return self

    @property
    def components(self) -> int:
        return self.n_components or len(self.true_means)



@dataclass
class GMMGeneration:
    """One fitted generation. Components are sorted by mean."""

    generation: int
    means: list[float]
    stds: list[float]
    weights: list[float]
    variance: float  # variance of the whole fitted mixture (law of total variance)
    within_variance: float  # sum_k w_k s_k^2: the spread inside components, which collapses first
    wasserstein1: float  # W1(true, fitted), Monte Carlo via scipy.stats.wasserstein_distance
    kl: float  # KL(true || fitted), Monte Carlo over fixed draws of the true mixture


@dataclass
class GMMResult:
    """A whole run: the config, the true mixture's variance, and one row per generation."""

    config: GMMConfig
    true_variance: float
    rows: list[GMMGeneration]

    def to_dict(self) -> dict:
        return {
            "config": self.config.model_dump(),
            "true_variance": self.true_variance,
            "distance_notes": {
                "wasserstein1": "W1(true, fitted) from eval_samples draws of each, scipy.stats.wasserstein_distance",
                "kl": "KL(true || fitted) = mean over eval_samples true draws of log p_true - log q_fitted",
            },
            "rows": [asdict(r) for r in self.rows],
        }


def mixture_variance(means: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> float:
    """Var = sum_k w_k (s_k^2 + m_k^2) - (sum_k w_k m_k)^2 (law of total variance)."""
    mean = float(np.dot(weights, means))
    return float(np.dot(weights, stds**2 + means**2) - mean**2)


def _true_params(config: GMMConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array(config.true_means), np.array(config.true_stds), np.array(config.true_weights)


def _sample_true(config: GMMConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    means, stds, weights = _true_params(config)
    comp = rng.choice(len(weights), size=n, p=weights)
    return rng.normal(means[comp], stds[comp])


def _true_logpdf(config: GMMConfig, x: np.ndarray) -> np.ndarray:
    means, stds, weights = _true_params(config)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return logsumexp(norm.logpdf(x[:, None], means, stds) + log_w, axis=1)


def _fit(x: np.ndarray, components: int, seed: int) -> GaussianMixture:
    model = GaussianMixture(n_components=components, covariance_type="full", random_state=seed)
    with warnings.catch_warnings():
        # Late generations hold near-identical points: EM/k-means warn about it, and that is the point.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x.reshape(-1, 1))


def _draw(model: GaussianMixture, n: int, seed: int) -> np.ndarray:
    model.random_state = seed  # sklearn samples with the estimator's random_state
    samples, _ = model.sample(n)
    return samples.ravel()


@dataclass(frozen=True)
class _TrueDraws:
    """Fixed Monte Carlo draws of the true mixture, with their true log-density (computed once)."""

    x: np.ndarray
    logpdf: np.ndarray


def _row(generation: int, model: GaussianMixture, true: _TrueDraws, seed: int) -> GMMGeneration:
    order = np.argsort(model.means_.ravel())
    means = model.means_.ravel()[order]
    stds = np.sqrt(model.covariances_.reshape(-1)[order])
    weights = model.weights_[order]
    fitted_draws = _draw(model, len(true.x), seed)
    kl = float(np.mean(true.logpdf - model.score_samples(true.x.reshape(-1, 1))))
    return GMMGeneration(
        generation=generation,
        means=means.tolist(),
        stds=stds.tolist(),
        weights=weights.tolist(),
        variance=mixture_variance(means, stds, weights),
        within_variance=float(np.dot(weights, stds**2)),
        wasserstein1=float(wasserstein_distance(true.x, fitted_draws)),
        kl=kl,
    )


def run_gmm(config: GMMConfig) -> GMMResult:
    """Fit generation 0 on real samples, then refit each generation on samples of the previous fit."""
    data_seq, eval_seq = np.random.SeedSequence(config.seed).spawn(2)
    rng = np.random.default_rng(data_seq)
    eval_x = _sample_true(config, np.random.default_rng(eval_seq), config.eval_samples)
    true = _TrueDraws(x=eval_x, logpdf=_true_logpdf(config, eval_x))
    x = _sample_true(config, rng, config.samples_per_generation)
    rows: list[GMMGeneration] = []
    # One BLAS/OpenMP thread: k-means on 100 points only loses time to thread start-up and contention.
    with threadpool_limits(limits=1):
        for generation in range(config.generations + 1):
            fit_seed, eval_seed, next_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=3))
            model = _fit(x, config.components, fit_seed)
            rows.append(_row(generation, model, true, eval_seed))
            x = _draw(model, config.samples_per_generation, next_seed)
    true_variance = mixture_variance(*_true_params(config))
    return GMMResult(config=config, true_variance=true_variance, rows=rows)


def gmm_to_json(result: GMMResult) -> str:
    """The run as a JSON document (config, distance definitions, one row per generation)."""
    return json.dumps(result.to_dict(), indent=2)
