"""The sections of a run's report, in page order. Each renderer takes the loaded run and returns a
`Section`, or None when the run has nothing for it; a new kind of result (collapse, compositional, ...)
is one more function appended to SECTIONS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from selfimprove.errors import UserError
from selfimprove.metrics.paired import Resampling, value_interval
from selfimprove.metrics.table import METRICS
from selfimprove.report import panels
from selfimprove.report.boundary import boundary_section
from selfimprove.report.collapse import monitor_section
from selfimprove.report.compositional import compositional_section
from selfimprove.report.context import ReportContext
from selfimprove.report.correction import correction_section
from selfimprove.report.load import pick
from selfimprove.report.plots import Panel, data_uri
from selfimprove.report.render import Section, fragment, num, pct
from selfimprove.report.samples import choose
from selfimprove.report.self_rewarding import self_rewarding_section
from selfimprove.report.steps import steps_section
from selfimprove.verdict import Verdict, VerdictConfig, decide


def figure(panel_list: list[Panel], alt: str, caption: str, ncols: int = 3) -> Any:
    return fragment("figure.html.j2", src=data_uri(panel_list, ncols), alt=alt, caption=caption)


def run_verdict(history: list[dict[str, Any]], cfg: VerdictConfig) -> tuple[Verdict | None, str]:
    """The verdict of a run, or None and the reason it cannot be decided (one iteration, missing split)."""
    if len(history) < 2:
        return None, "Only iteration 0 is evaluated so far; the verdict compares it with a later iteration."
    try:
        return decide(history, cfg), ""
    except UserError as e:
        return None, str(e)


def verdict_section(ctx: ReportContext) -> Section:
    """The label, its one-line reason, every signal with its numbers, and the label at each iteration."""
    history = ctx.run.history
    verdict, why_not = run_verdict(history, ctx.verdict)
    last = ctx.verdict.model_copy(update={"compare_to": "last"})
    steps = [(t, run_verdict(history[: t + 1], last)[0]) for t in range(1, len(history))]
    html = fragment("verdict.html.j2", verdict=verdict, why_not=why_not, steps=steps, cfg=ctx.verdict)
    return Section("verdict", "Verdict", html)


def _with_interval(value: Any, pp: Any, measure: str, cfg: VerdictConfig, rate: bool = True) -> str:
    """A number with its 95% bootstrap interval over problems, '26.5% [20.5, 32.5]' (selfimprove.metrics.paired)."""
    iv = value_interval(pp, measure, Resampling(cfg.n_resamples, cfg.confidence, cfg.bootstrap_seed))
    if rate:
        return pct(value) + (f" [{100 * iv.low:.1f}, {100 * iv.high:.1f}]" if iv and value is not None else "")
    return num(value) + (f" [{iv.low:.3g}, {iv.high:.3g}]" if iv and value is not None else "")


HEADLINE = ("n_problems", "greedy_pass@1", "greedy_pass@1_flexible", "pass@k", "maj@k", "coverage@N")  # metrics.table
INTERVALS = {"greedy_pass@1": "greedy", "coverage@N": "coverage"}  # the paired measure behind each interval


def _headline_row(t: int, split: str, m: dict[str, Any], cfg: VerdictConfig) -> list[str]:
    ks = sorted(m.get("pass@k") or {}, key=int)
    top = ks[-1] if ks else None
    div = pick(m, "diversity", "correct") or {}
    pp = m.get("per_problem")

    def cell(key: str) -> str:
        metric = METRICS[key]
        value = metric.value(m)
        if key in INTERVALS:
            return _with_interval(value, pp, INTERVALS[key], cfg)
        if metric.per_k:
            return "–" if top is None else pct(value) + (f" (k={top})" if key == "pass@k" else "")
        return str(m.get(key, "–")) if metric.format == "count" else pct(value)

    diversity = (cfg.lexical_metric, "semantic", "logical")
    return [str(t), split, *map(cell, HEADLINE),
            *(_with_interval(div.get(key), pp, key, cfg, rate=False) for key in diversity)]


def numbers_section(ctx: ReportContext) -> Section:
    """Every headline number per iteration and split, so each point of a chart can be read exactly."""
    head = ["iteration", "split", *(METRICS[key].label for key in HEADLINE),
            f"{ctx.verdict.lexical_metric} (correct)", "semantic (correct)", "logical (correct)"]
    first = (ctx.verdict.id_split, ctx.verdict.ood_split)
    rows = [_headline_row(it.index, s, it.metrics[s], ctx.verdict) for it in ctx.run.iterations
            for s in panels.all_splits([it.metrics], first)]
    note = (f"Strict extraction unless marked flexible. Brackets: {ctx.verdict.confidence:.0%} bootstrap interval "
            "over problems (seeded; none for runs without per-problem values in metrics.json).")
    html = fragment("table.html.j2", head=head, rows=rows, note=note)
    return Section("numbers", "Numbers per iteration", html)


def accuracy_section(ctx: ReportContext) -> Section:
    caption = ("A greedy pass@1 gain with flat pass@k and coverage@N means the model picks answers it could "
               "already sample, not that it solves new problems (Wu et al. 2024).")
    html = figure(panels.accuracy_panels(ctx.run.history, ctx.verdict), "pass@1, pass@k and coverage per iteration",
                  caption)
    return Section("accuracy", "pass@1, pass@k and coverage", html)


def diversity_section(ctx: ReportContext) -> Section:
    split = ctx.verdict.id_split
    caption = (f"Diversity of the sampled solutions on {split}, for correct and incorrect samples apart (a "
               "problem counts when at least two of its samples fall in the group). Semantic diversity is "
               "1 - mean pairwise cosine of MiniLM embeddings; logical diversity counts distinct equation sets.")
    html = figure(panels.diversity_panels(ctx.run.history, split, ctx.verdict), f"diversity per iteration on {split}",
                  caption)
    return Section("diversity", "Output diversity", html)


def generalization_section(ctx: ReportContext) -> Section:
    history = ctx.run.history
    caption = ("Self-improvement gains can concentrate on easy problems and come with worse out-of-distribution "
               "accuracy. Disparity = (pass@1 easiest - pass@1 hardest) / pass@1 easiest.")
    plots = panels.generalization_panels(history, ctx.verdict)
    html = figure(plots, "OOD and per-difficulty accuracy per iteration", caption)
    return Section("generalization", "Generalization: OOD and difficulty", html)


def improvement_section(ctx: ReportContext) -> Section | None:
    """IS(t) sizes and M_1's pass@k on it; None when no iteration recorded an improvement set."""
    rows = [(it.index, it.metrics["improvement"]) for it in ctx.run.iterations if pick(it.metrics, "improvement")]
    if not rows:
        return None
    ks = sorted({k for _, imp in rows for k in imp.get("m1_pass@k") or {}}, key=int)
    head = ["iteration t", "|IS(t)|", "compared", "share", "M_1 samples", *(f"M_1 pass@{k}" for k in ks)]
    table = [[str(t), str(imp.get("size", "–")), str(imp.get("n_compared", "–")), pct(imp.get("fraction")),
              str(imp.get("m1_samples", "–")), *(pct(pick(imp, "m1_pass@k", k)) for k in ks)] for t, imp in rows]
    note = ("IS(t): problems M_t solves greedily and M_1 does not. If M_1 already solves most of them within a few "
            "samples, the pass@1 gain is selection of answers M_1 could produce, not new ability "
            "(the capability illusion of Wu et al. 2024).")
    html = fragment("table.html.j2", head=head, rows=table, note=note)
    html += figure(panels.improvement_panels(ctx.run.history), "improvement set per iteration", "", ncols=2)
    return Section("improvement", "Improvement set (capability illusion)", html)


def _data_cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_data_cell(v)}" for k, v in value.items()) or "–"
    if isinstance(value, float):
        return pct(value) if 0 <= value <= 1 else num(value)
    return "–" if value is None else str(value)


def data_section(ctx: ReportContext) -> Section | None:
    """What each iteration trained on (the loop's `data` entry of metrics.json); None when no iteration has it.
    Columns are whatever keys the loop wrote, so new bookkeeping shows up without changes here."""
    rows = [(it.index, it.metrics["data"]) for it in ctx.run.iterations if isinstance(it.metrics.get("data"), dict)]
    if not rows:
        return None
    keys = list(dict.fromkeys(k for _, data in rows for k in data))
    table = [[str(t), *(_data_cell(data.get(k)) for k in keys)] for t, data in rows]
    note = ("Sampled accuracy and solved problems are M_(t-1)'s samples on the improvement split, before "
            "curation; the rows are what iteration t was trained on.")
    html = fragment("table.html.j2", head=["iteration", *(k.replace("_", " ") for k in keys)], rows=table, note=note)
    return Section("data", "Training data per iteration", html)


def samples_section(ctx: ReportContext) -> Section:
    shown = choose(ctx.run, ctx.browser, ctx.verdict.id_split)
    html = fragment("samples.html.j2", shown=shown, iterations=[it.index for it in ctx.run.iterations])
    return Section("samples", "Sample browser", html)


def run_section(ctx: ReportContext) -> Section:
    run = ctx.run
    stages = [(it.index, it.path.name, ", ".join(it.done) or "–") for it in run.iterations]
    config = yaml.safe_dump(run.config, sort_keys=False) if run.config else "(no config.yaml)"
    html = fragment("run.html.j2", path=str(run.path.resolve()), notes=run.notes, stages=stages, config=config)
    return Section("run", "Run directory and config", html)


SECTIONS: list[Callable[[ReportContext], Section | None]] = [
    verdict_section, self_rewarding_section, numbers_section, accuracy_section, diversity_section,
    generalization_section, improvement_section, data_section, steps_section, correction_section, monitor_section,
    compositional_section, boundary_section, samples_section, run_section,
]
