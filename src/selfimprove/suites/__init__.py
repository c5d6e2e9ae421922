"""Evaluation suites: what a recipe measures of every evaluated model beyond its splits' pass@k, each a plain
function with its own section under `eval` (`eval.<name>`), run in the order listed. evaluate.py imports none
of them; a recipe runs them all with `run_suites` after evaluating its splits.

Adding a suite = its function `run(section, inp: SuiteInput) -> dict` (the keys it adds to metrics.json),
its section (a field `<name>` of suites.config.EvalSuitesSection) and one line in SUITES.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from pkgutil import resolve_name
from typing import TYPE_CHECKING, Any

from selfimprove.types import Record, Sampler, Task

if TYPE_CHECKING:
    from selfimprove.sections import SamplingSection
    from selfimprove.suites.config import EvalSuitesSection


@dataclass
class SuiteInput:
    """What a suite may read of the evaluation it extends: the task and the sampler of the evaluated model,
    this evaluation's records and metrics so far, its folder (for the suite's own records), the iteration,
    the prompt's shots, the sampling settings and the evaluated splits and limit."""

    task: Task
    sampler: Sampler
    records: Sequence[Record]
    metrics: dict[str, Any]
    out_dir: Path
    iteration: int
    shots: int
    sampling: SamplingSection
    eval_splits: Sequence[str]
    eval_limit: int | None


@dataclass(frozen=True)
class Suite:
    """A suite: `run` is the dotted path of `run(section, inp: SuiteInput) -> dict[str, Any]`; `splits` (optional)
    the dotted path of `splits(section, task, eval_splits) -> list[str]`, the task splits it reads, checked
    before any model is loaded (it raises UserError for a task it cannot measure)."""

    name: str
    about: str
    run: str
    splits: str | None = None


SUITES: tuple[Suite, ...] = (
    Suite("perplexity", "collapse monitor: perplexity of the model on held-out reference solutions "
                        "(Shumailov et al. 2024)", "selfimprove.suites.perplexity:monitor_metrics",
          "selfimprove.suites.perplexity:monitor_splits"),
    Suite("compositional", "reasoning gap on Compositional GSM pairs (Hosseini et al. 2024)",
          "selfimprove.suites.compositional:suite_metrics", "selfimprove.suites.compositional:suite_splits"),
    Suite("correction", "two-attempt self-correction: Acc@t1, Acc@t2, Δ, Δi→c, Δc→i (Kumar et al. 2024)",
          "selfimprove.suites.correction:correction_metrics_suite", "selfimprove.suites.correction:correction_splits"),
)


def suite_splits(section: EvalSuitesSection, task: Task) -> list[str]:
    """The task splits the suites read (each suite has checked that it can measure the task)."""
    return [split for suite in SUITES if suite.splits
            for split in resolve_name(suite.splits)(getattr(section, suite.name), task, section.splits)]


def run_suites(section: EvalSuitesSection, inp: SuiteInput) -> dict[str, Any]:
    """Every suite in order, each adding its keys to `inp.metrics` (a later suite sees an earlier one's);
    returns that dict."""
    for suite in SUITES:
        inp.metrics.update(resolve_name(suite.run)(getattr(section, suite.name), inp))
    return inp.metrics
