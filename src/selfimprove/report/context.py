"""What every section renderer of a run's report receives: the loaded run, the verdict's thresholds and the
sample browser's settings."""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove.report.load import Run
from selfimprove.report.samples import BrowserSection
from selfimprove.verdict import VerdictConfig


@dataclass
class ReportContext:
    run: Run
    verdict: VerdictConfig
    browser: BrowserSection
