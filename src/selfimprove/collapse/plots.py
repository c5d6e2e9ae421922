"""Figures for the model-collapse experiments, drawn with matplotlib's Agg canvas (no display, no pyplot
global state), saved as PNG or embedded in the HTML report as base64 data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from scipy.stats import norm

from selfimprove.collapse.gmm import GMMResult, gmm_to_json

if TYPE_CHECKING:
    from selfimprove.collapse.symptoms import PerplexityHistogram
    from selfimprove.collapse.measure import PerplexitySummary


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_to_png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """`data:image/png;base64,...`, ready for an <img src> in a self-contained HTML report."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png_bytes(fig, dpi)).decode("ascii")


def _mixture_pdf(x: np.ndarray, means: list[float], stds: list[float], weights: list[float]) -> np.ndarray:
    return np.sum(np.array(weights) * norm.pdf(x[:, None], np.array(means), np.array(stds)), axis=1)


def _snapshot_generations(last: int) -> list[int]:
    return sorted({0, last // 4, last // 2, last})


def plot_gmm(result: GMMResult) -> Figure:
    """Four panels: component means, variances (component and whole mixture, log scale), distance to the
    true distribution (W1 and KL), and the fitted density at a few generations against the true one."""
    cfg, rows = result.config, result.rows
    gens = np.array([r.generation for r in rows])
    fig = _new_figure(11, 7.5)
    ax_mean, ax_var, ax_dist, ax_pdf = fig.subplots(2, 2).ravel()
    for k in range(len(rows[0].means)):
        ax_mean.plot(gens, [r.means[k] for r in rows], lw=1, label=f"component {k}")
        ax_var.plot(gens, [r.stds[k] ** 2 for r in rows], lw=1, label=f"component {k} variance")
    for m in cfg.true_means:
        ax_mean.axhline(m, color="gray", ls="--", lw=0.8)
    ax_mean.set(title="Estimated means (sorted)", xlabel="generation", ylabel="mean")
    ax_var.plot(gens, [r.variance for r in rows], color="black", lw=1.6, label="mixture variance")
    ax_var.plot(gens, [r.within_variance for r in rows], color="gray", lw=1.6, label="within-component variance")
    ax_var.axhline(result.true_variance, color="black", ls="--", lw=0.8, label="true mixture variance")
    ax_var.set(title="Estimated variances", xlabel="generation", ylabel="variance", yscale="log")
    ax_var.legend(fontsize=7)
    ax_dist.plot(gens, [r.wasserstein1 for r in rows], color="tab:blue", lw=1.2)
    ax_dist.set(title="Distance to the true distribution", xlabel="generation")
    ax_dist.set_ylabel("Wasserstein-1", color="tab:blue")
    ax_kl = ax_dist.twinx()
    ax_kl.plot(gens, [max(r.kl, 1e-4) for r in rows], color="tab:red", lw=1.2)
    ax_kl.set_ylabel("KL(true || fitted)", color="tab:red")
    ax_kl.set_yscale("log")
    _plot_densities(ax_pdf, result)
    fig.suptitle(
        f"Gaussian-mixture collapse: M={cfg.samples_per_generation} samples/generation, seed {cfg.seed}"
    )
    return fig


def _plot_densities(ax: Axes, result: GMMResult) -> None:
    cfg, rows = result.config, result.rows
    spread = max(m + 4 * s for m, s in zip(cfg.true_means, cfg.true_stds))
    low = min(m - 4 * s for m, s in zip(cfg.true_means, cfg.true_stds))
    x = np.linspace(low, spread, 600)
    true_pdf = _mixture_pdf(x, cfg.true_means, cfg.true_stds, cfg.true_weights)
    ax.plot(x, true_pdf, "k--", lw=1.2, label="true")
    for g in _snapshot_generations(rows[-1].generation):
        r = rows[g]
        ax.plot(x, _mixture_pdf(x, r.means, r.stds, r.weights), lw=1, label=f"generation {g}")
    # Collapsed generations are near-delta spikes; clip them so the true density stays readable.
    ax.set_ylim(0, 4 * float(true_pdf.max()))
    ax.set(title="Fitted density (spikes clipped)", xlabel="x", ylabel="density")
    ax.legend(fontsize=7)


def save_gmm_png(result: GMMResult, path: str | Path) -> Path:
    """Draw `plot_gmm(result)` into a PNG file and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(figure_to_png_bytes(plot_gmm(result)))
    return out


def gmm_figure_data_uri(result: GMMResult) -> str:
    """The GMM figure as a base64 PNG data URI for the HTML report."""
    return figure_to_data_uri(plot_gmm(result))


def _log_axis(axis: Any, set_scale: Any) -> None:
    """A log axis labelled 1, 2, 5, 10, 20, ... in plain numbers."""
    set_scale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _draw_histogram(ax: Axes, hist: PerplexityHistogram, title: str) -> None:
    edges = np.array(hist.edges)
    cmap = colormaps["viridis"]
    labels = list(hist.density)
    for i, label in enumerate(labels):
        ax.stairs(hist.density[label], edges, label=str(label), lw=1.2, color=cmap(i / max(1, len(labels) - 1)))
    if hist.log_bins and edges[-1] > 10 * edges[0]:  # within one decade a log axis has no readable ticks
        _log_axis(ax.xaxis, ax.set_xscale)
    ax.set_title(title, fontsize=10)
    ax.set(xlabel="perplexity", ylabel="probability density")
    ax.legend(fontsize=7, title="generation")


def plot_perplexity_histograms(hist: PerplexityHistogram, title: str = "Per-block perplexity") -> Figure:
    """Step histograms of per-block perplexity, one per generation on shared bins (paper, Fig. 1 right,
    where each generation's generated blocks are scored by the generation-0 model): collapse shows as
    mass moving to low perplexity while a long tail of improbable blocks appears."""
    fig = _new_figure(7, 4)
    _draw_histogram(fig.subplots(), hist, title)
    return fig


def plot_histogram_grid(rows: Sequence[Sequence[tuple[str, PerplexityHistogram]]]) -> Figure:
    """Histogram panels in a grid: one row per arm, one (title, histogram) panel per column."""
    ncols = max(len(r) for r in rows)
    fig = _new_figure(6 * ncols, 3.6 * len(rows))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(ncols):
            if c < len(row):
                _draw_histogram(axes[r, c], row[c][1], row[c][0])
            else:
                axes[r, c].set_visible(False)
    return fig


def plot_arm_perplexity(arms: Mapping[str, Mapping[int, PerplexitySummary]], title: str) -> Figure:
    """Mean +- std of per-block perplexity on real test blocks per generation, one curve per arm on the
    same axes (paper, Fig. 1: no data kept vs 10% of the original data kept)."""
    fig = _new_figure(7, 4.2)
    ax = fig.subplots()
    means = [s.mean for summaries in arms.values() for s in summaries.values()]
    log = bool(means) and max(means) > 20 * min(means)  # one arm exploding would flatten the others
    for name, summaries in arms.items():
        gens = sorted(summaries)
        mean = np.array([summaries[g].mean for g in gens])
        std = np.array([summaries[g].std for g in gens])
        (line,) = ax.plot(gens, mean, marker="o", label=f"{name} (mean ± std)")
        low = np.maximum(mean - std, mean / 10) if log else mean - std  # a log axis cannot show mean - std < 0
        ax.fill_between(gens, low, mean + std, alpha=0.15, color=line.get_color())
    if log:
        _log_axis(ax.yaxis, ax.set_yscale)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel="generation", ylabel="perplexity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_perplexity_summary(
    summaries: Mapping[int, PerplexitySummary], title: str = "Perplexity on real data"
) -> Figure:
    """Mean +- std of per-block perplexity on real test blocks, per generation (paper, Fig. 1)."""
    gens = sorted(summaries)
    mean = np.array([summaries[g].mean for g in gens])
    std = np.array([summaries[g].std for g in gens])
    fig = _new_figure(6, 4)
    ax = fig.subplots()
    ax.plot(gens, mean, marker="o")
    ax.fill_between(gens, mean - std, mean + std, alpha=0.2)
    ax.set(title=title, xlabel="generation", ylabel="perplexity")
    return fig


def save_gmm(result: GMMResult, out_dir: str | Path) -> dict[str, Path]:
    """Write `gmm.json` and the figure `gmm.png` into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "gmm.json"
    json_path.write_text(gmm_to_json(result) + "\n", encoding="utf-8")
    return {"json": json_path, "png": save_gmm_png(result, out / "gmm.png")}
