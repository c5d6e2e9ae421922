"""Line charts of metrics per iteration, drawn with matplotlib's Agg canvas (no display, no pyplot state)
and embedded in the HTML report as base64 PNG data URIs, so the report opens offline as one file.

A figure is a grid of `Panel`s; a panel holds `Line`s. Report and comparison pages only decide which
lines go on which panel (panels.py); drawing is the same for both.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter


@dataclass
class Line:
    """One series: y values at x (iterations by default), None where not measured."""

    label: str
    y: Sequence[float | None]
    x: Sequence[float] | None = None
    style: dict[str, Any] = field(default_factory=dict)
    band: tuple[Sequence[float | None], Sequence[float | None]] | None = None  # (low, high): an interval, shaded


@dataclass
class Panel:
    """One set of axes. `percent` draws fractions in [0, 1] as percentages."""

    title: str
    lines: list[Line]
    ylabel: str = ""
    xlabel: str = "iteration"
    percent: bool = False
    floor: float | None = None  # the least value the quantity can take (0 for rates); bands never go below it
    log2x: bool = False  # x on a base-2 log scale (k = 1, 2, 4, ... 256)

    def has_data(self) -> bool:
        return any(v is not None for line in self.lines for v in line.y)


def _percent_limits(ax: Axes, values: list[float]) -> None:
    """At least 10 points of range, and no empty band below 0% or above 100% for rates in [0, 1]."""
    if not values:
        return
    lo, hi = min(values), max(values)
    pad = max(0.05, 0.1 * (hi - lo))
    bottom = max(lo - pad, -0.01) if lo >= 0 else lo - pad
    top = min(hi + pad, 1.01) if hi <= 1 else hi + pad
    ax.set_ylim(bottom, top)


def _values(seq: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in seq], dtype=float)


def _draw_band(ax: Axes, x: np.ndarray, line: Line, color: Any, floor: float | None) -> list[float]:
    """Shade a line's interval, clipped at the panel's floor (a rate's band never dips below 0)."""
    if line.band is None:
        return []
    low, high = _values(line.band[0]), _values(line.band[1])
    if floor is not None:
        low, high = np.maximum(low, floor), np.maximum(high, floor)
    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
    return [v for v in (*low, *high) if np.isfinite(v)]


def _draw_panel(ax: Axes, panel: Panel) -> None:
    xs: list[float] = []
    banded: list[float] = []
    for line in panel.lines:
        y = _values(line.y)
        x = np.arange(len(y)) if line.x is None else np.asarray(line.x, dtype=float)
        drawn = ax.plot(x, y, **{"marker": "o", "markersize": 4, "linewidth": 1.6, **line.style}, label=line.label)
        banded += _draw_band(ax, x, line, drawn[0].get_color(), panel.floor if not panel.percent else 0.0)
        xs += list(x)
    if panel.log2x:
        ax.set_xscale("log", base=2)
    elif xs and all(float(v).is_integer() for v in xs):  # whole numbers on x, a sane range for one iteration
        lo, hi = min(xs), max(xs)
        ax.set_xlim(lo - 0.3, max(hi, lo + 1) + 0.3)
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel(panel.xlabel, fontsize=9)
    ax.set_ylabel(panel.ylabel, fontsize=9)
    if panel.log2x and xs:
        ticks = sorted(set(xs))
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    elif all(float(v).is_integer() for v in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if panel.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _percent_limits(ax, [v for line in panel.lines for v in line.y if v is not None] + banded)
    if not panel.has_data():
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="0.5")
    elif len(panel.lines) > 1:
        ax.legend(fontsize=7, loc="best")


def draw(panels: list[Panel], ncols: int = 3, width: float = 12.0, row_height: float = 3.3) -> Figure:
    """A figure with the panels in a grid, `ncols` per row."""
    ncols = max(1, min(ncols, len(panels)))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(width, row_height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        _draw_panel(ax, panel)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig


def data_uri(panels: list[Panel], ncols: int = 3, dpi: int = 90) -> str:
    """The panels drawn and encoded as `data:image/png;base64,...` for an <img src>. (Not imported from
    collapse.plots, which loads scipy at import time: several seconds the report does not need.)"""
    buf = io.BytesIO()
    draw(panels, ncols).savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
