"""Sections of the comparison page: several runs (e.g. iterative SFT, DPO and SFT->DPO) on shared axes,
as in Figure 1 of Wu et al. 2024, with each run's verdict and the config keys on which the runs differ."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfimprove.report import panels
from selfimprove.report.load import Run
from selfimprove.report.render import Section, fragment
from selfimprove.report.sections import figure, run_verdict
from selfimprove.verdict import Signal, VerdictConfig


@dataclass
class Compared:
    label: str
    run: Run
    verdict: VerdictConfig


def labels(runs: list[Run]) -> list[str]:
    """Short unique names: the folder name, with its parent when two runs share a name, then a number."""
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        names = [f"{r.path.resolve().parent.name}/{r.name}" for r in runs]
    if len(set(names)) < len(names):
        names = [f"{i + 1}. {n}" for i, n in enumerate(names)]
    return names


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a.b.c': value} for every leaf of a nested mapping."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# The compared signals: (name, column head, unit). Units follow the verdict's sentences: points of a share,
# a change relative to the start (diversity), or a plain difference (disparity).
COLUMNS = (("id_pass@1_gain", "ID pass@1 change", "points"), ("coverage_stalled", "coverage@N change", "points"),
           ("ood_pass@1_drop", "OOD pass@1 change", "points"),
           ("lexical_diversity_drop", "lexical diversity change", "relative"),
           ("semantic_diversity_drop", "semantic diversity change", "relative"),
           ("logical_diversity_drop", "logical diversity change", "relative"),
           ("disparity_growth", "disparity change", "value"))


def change_cell(signal: Signal | None, unit: str = "points") -> str:
    """A signal's change with its paired interval: '+16.7 points [-33.3, +66.7]', '-20.0% [-31.2, -8.1]'
    (relative), '+0.100 [-0.050, +0.250]' (disparity)."""
    if signal is None or signal.change is None:
        return "–"
    known = signal.low is not None and signal.high is not None
    if unit == "value":
        ci = f" [{signal.low:+.3f}, {signal.high:+.3f}]" if known else ""
        return f"{signal.change:+.3f}{ci}"
    ci = f" [{100 * signal.low:+.1f}, {100 * signal.high:+.1f}]" if known else ""
    return f"{100 * signal.change:+.1f}{'% relative' if unit == 'relative' else ' points'}{ci}"


def verdicts_section(runs: list[Compared]) -> Section:
    rows = []
    for c in runs:
        verdict, why_not = run_verdict(c.run.history, c.verdict)
        label = verdict.label if verdict else "no verdict"
        signals = {s.name: s for s in verdict.signals} if verdict else {}
        rows.append([c.label, str(len(c.run.iterations) - 1), label,
                     *(change_cell(signals.get(name), unit) for name, _, unit in COLUMNS),
                     verdict.summary if verdict else why_not])
    head = ["run", "iterations", "verdict", *(h for _, h, _ in COLUMNS), "why"]
    note = ("Changes from iteration 0 to the compared iteration, with their paired 95% bootstrap interval over "
            "problems (diversity: relative to iteration 0; disparity: difference of (pass@1 easiest - pass@1 hardest) / pass@1 "
            "easiest).")
    html = fragment("table.html.j2", head=head, rows=rows, note=note)
    return Section("verdicts", "Verdicts", html)


def id_gain(c: Compared) -> Signal | None:
    """The run's in-distribution greedy pass@1 change as its verdict measures it (iteration 0 to the compared
    iteration, with the paired interval), or None before a verdict can be decided."""
    verdict, _ = run_verdict(c.run.history, c.verdict)
    return next((s for s in verdict.signals if s.name == "id_pass@1_gain"), None) if verdict else None


def headroom_rows(gold: Signal | None, runs: list[tuple[str, str, Signal | None]]) -> tuple[list[list[str]], str]:
    """One row per run: its strategy, pass@1 at the start, its change, the gold control's change and the share
    of that headroom it captured (its change / gold's). The share is left out when the two did not start from
    the same pass@1 (different starting models) or the gold control did not gain (then the setup has no
    headroom to share, and the control, not the method, is in question)."""
    rows, notes = [], []
    gold_gain = gold.change if gold and gold.change is not None else None
    if gold_gain is None or gold_gain <= 0:
        notes.append("The gold control did not raise pass@1, so this setup shows no headroom and no share is given.")
    for label, strategy, signal in runs:
        share = "–"
        if signal is not None and signal.change is not None and gold_gain is not None and gold_gain > 0:
            if gold is not None and signal.before == gold.before:
                share = f"{100 * signal.change / gold_gain:.0f}%"
            else:
                notes.append(f"{label} starts from another pass@1 than the gold control; no share is given.")
        start = f"{100 * signal.before:.1f}" if signal and signal.before is not None else "–"
        rows.append([label, strategy, start, change_cell(signal), change_cell(gold), share])
    return rows, " ".join(notes)


def headroom_section(runs: list[Compared]) -> Section | None:
    """How much of the headroom a strategy captured: a run with loop.strategy=gold (SFT on the improve split's
    reference solutions) is the upper bound any self-improvement method on that split is compared to. Shown
    when the compared runs include one gold run and at least one other."""
    strategy = {c.label: str(flatten(c.run.config).get("loop.strategy", "")) for c in runs}
    gold = [c for c in runs if strategy[c.label] == "gold"]
    others = [c for c in runs if strategy[c.label] != "gold"]
    if len(gold) != 1 or not others:
        return None
    rows, notes = headroom_rows(id_gain(gold[0]), [(c.label, strategy[c.label] or "–", id_gain(c)) for c in others])
    note = (f"In-distribution greedy pass@1 (points), iteration 0 to each run's compared iteration, against the "
            f"gold control {gold[0].label}. {notes}").strip()
    head = ["run", "strategy", "pass@1 at start", "its change", "gold's change", "share of the headroom"]
    return Section("headroom", "Headroom captured", fragment("table.html.j2", head=head, rows=rows, note=note))


def curves_section(runs: list[Compared]) -> Section:
    plots = panels.compare_panels([(c.label, c.run.history, c.verdict) for c in runs])
    caption = "One line per run; iteration 0 is each run's starting model. Split names follow each run's verdict config."
    return Section("curves", "Curves", figure(plots, "metrics of several runs per iteration", caption))


def config_section(runs: list[Compared]) -> Section:
    flat = [flatten(c.run.config) for c in runs]
    keys = sorted({k for f in flat for k in f})
    differ = [k for k in keys if len({repr(f.get(k, "(unset)")) for f in flat}) > 1]
    rows = [[k, *(str(f.get(k, "(unset)")) for f in flat)] for k in differ]
    note = "Only keys whose values differ between the runs." if differ else "The runs' configs do not differ."
    html = fragment("table.html.j2", head=["config key", *(c.label for c in runs)], rows=rows, note=note)
    html += fragment("run_list.html.j2", runs=[(c.label, str(c.run.path.resolve())) for c in runs])
    return Section("configs", "How the runs differ", html)


COMPARE_SECTIONS: list[Callable[[list[Compared]], Section | None]] = [verdicts_section, headroom_section, curves_section,
                                                                     config_section]
