"""One self-contained HTML file per run (`report.html`), and one comparing several runs.

Everything is computed from the run directory (metrics.json, eval.jsonl, config.yaml), so a report can
be rebuilt at any time, also while a run is going. Plots are base64 PNGs and the CSS is inline: the file
opens offline and can be mailed as is.
"""

from __future__ import annotations

from pathlib import Path

from selfimprove.errors import UserError
from selfimprove.jsonl import write_atomic
from selfimprove.report.collapse import is_collapse_run, render_collapse_report
from selfimprove.report.compare import COMPARE_SECTIONS, Compared, labels
from selfimprove.report.load import load_run, verdict_config
from selfimprove.report.render import page
from selfimprove.report.samples import BrowserSection
from selfimprove.report.context import ReportContext
from selfimprove.report.sections import SECTIONS
from selfimprove.verdict import VerdictConfig


def render_report(run_dir: Path, verdict: VerdictConfig | None = None, browser: BrowserSection | None = None) -> str:
    """The report of one run as an HTML string. `verdict` fields that were set explicitly override the
    run's config.yaml `verdict` section."""
    if is_collapse_run(Path(run_dir)):  # generations of recursive training in arm folders: its own page
        return render_collapse_report(Path(run_dir))
    run = load_run(run_dir)
    ctx = ReportContext(run, verdict_config(run, verdict), browser or BrowserSection())
    sections = [s for render in SECTIONS if (s := render(ctx)) is not None]
    last = run.iterations[-1].index
    subtitle = f"{run.path.resolve()} · iterations 0–{last}"
    return page(f"selfimprove run: {run.name}", subtitle, sections)


def write_report(
    run_dir: Path, out: Path | None = None, verdict: VerdictConfig | None = None, browser: BrowserSection | None = None
) -> Path:
    """Write `report.html` into the run directory (or to `out`), atomically; returns its path."""
    html = render_report(Path(run_dir), verdict, browser)
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    write_atomic(target, html)
    return target


def write_comparison(run_dirs: list[Path], out: Path, verdict: VerdictConfig | None = None) -> Path:
    """Write one HTML page with several runs on the same axes; returns its path."""
    if not run_dirs:
        raise UserError("nothing to compare: give one or more run directories")
    runs = [load_run(Path(d)) for d in run_dirs]
    compared = [Compared(label, run, verdict_config(run, verdict)) for label, run in zip(labels(runs), runs)]
    sections = [s for render in COMPARE_SECTIONS if (s := render(compared)) is not None]
    title = "selfimprove comparison: " + " vs ".join(c.label for c in compared)
    write_atomic(Path(out), page(title, f"{len(runs)} runs", sections))
    return Path(out)
