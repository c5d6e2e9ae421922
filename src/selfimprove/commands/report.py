"""`selfimprove report` and `selfimprove compare`: the HTML report of one run, and several runs on shared axes."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from selfimprove.config import Section
from selfimprove.jsonl import check_output_file
from selfimprove.report.collapse import is_collapse_run
from selfimprove.report.html import write_comparison, write_report
from selfimprove.report.load import load_run, verdict_config
from selfimprove.report.samples import BrowserSection
from selfimprove.report.sections import run_verdict
from selfimprove.report.stop import is_stop_run
from selfimprove.verdict import VerdictConfig

VERDICT_HELP = (
    "Verdict thresholds; only the keys given here override the run's config.yaml `verdict` section "
    "(e.g. verdict.compare_to=best)."
)


class ReportConfig(Section):
    """`selfimprove report RUN_DIR`: one self-contained report.html of a run."""

    run_dir: str = Field(..., description="The run directory (runs/<name>) or a `selfimprove eval` output folder.")
    out: str | None = Field(None, description="Where to write the HTML; default RUN_DIR/report.html.")
    verdict: VerdictConfig = Field(default_factory=VerdictConfig, description=VERDICT_HELP)
    browser: BrowserSection = Field(
        default_factory=BrowserSection, description="Which problems the sample browser shows.")


class CompareConfig(Section):
    """`selfimprove compare RUN_A RUN_B ...`: several runs on the same axes in one HTML file."""

    runs: list[str] = Field(..., min_length=1, description="Run directories to compare.")
    out: str = Field("compare.html", description="The HTML file to write.")
    verdict: VerdictConfig = Field(default_factory=VerdictConfig, description=VERDICT_HELP)


def run_report(cfg: ReportConfig) -> Path:
    """Write the report and print its path with the run's verdict in one line."""
    check_output_file(Path(cfg.out) if cfg.out else Path(cfg.run_dir) / "report.html", "--out")
    path = write_report(Path(cfg.run_dir), Path(cfg.out) if cfg.out else None, cfg.verdict, cfg.browser)
    if is_collapse_run(Path(cfg.run_dir)) or is_stop_run(Path(cfg.run_dir)):  # no verdict to give
        print(f"report: {path}")
        return path
    run = load_run(Path(cfg.run_dir))
    verdict, why_not = run_verdict(run.history, verdict_config(run, cfg.verdict))
    print(f"{verdict.label}: {verdict.summary}" if verdict else f"no verdict: {why_not}")
    print(f"report: {path}")
    return path


def run_compare(cfg: CompareConfig) -> Path:
    check_output_file(Path(cfg.out), "--out")
    path = write_comparison([Path(r) for r in cfg.runs], Path(cfg.out), cfg.verdict)
    print(f"comparison of {len(cfg.runs)} runs: {path}")
    return path
