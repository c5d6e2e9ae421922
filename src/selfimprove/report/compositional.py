"""The reasoning gap per iteration in a run's report (Hosseini et al. 2024, "Not All LLM Reasoners Are
Created Equal"): S1, S2, S_comp and Δ = S_comp - S1·S2 of each iteration's model, as written to
metrics.json under "compositional" by the loop's compositional suite (selfimprove.suites.compositional) or
by `selfimprove eval` on composed pairs. The paper saw compositional accuracy peak early and fall under
continued GSM8K fine-tuning; the plot puts S_comp beside the S1·S2 it would reach without a gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selfimprove.report.load import number, pick
from selfimprove.report.plots import Line, Panel, data_uri
from selfimprove.report.render import Section, fragment, pct

if TYPE_CHECKING:
    from selfimprove.report.context import ReportContext

History = list[dict[str, Any]]
ACCURACY = (("s1", "S1: Q1 alone"), ("s2", "S2: Q2 alone"), ("s_comp", "S_comp: both in the pair"))
TABLE = (("s1", "S1"), ("s2", "S2"), ("s_comp", "S_comp"), ("expected", "S1·S2"), ("gap", "Δ"),
         ("q1_in_composition", "Q1 in pair"), ("q2_given_q1", "Q2 | Q1 in pair"))


def measured(history: History) -> list[tuple[str, str]]:
    """(answer mode, extraction) pairs present at any iteration, in order of first appearance."""
    seen: dict[tuple[str, str], None] = {}
    for metrics in history:
        for mode, by_em in (pick(metrics, "compositional", "modes") or {}).items():
            seen.update(dict.fromkeys((mode, em) for em in by_em))
    return list(seen)


def _series(history: History, mode: str, em: str, key: str, part: str = "value") -> list[float | None]:
    return [number(m, "compositional", "modes", mode, em, key, part) for m in history]


def gap_panels(history: History, mode: str, em: str) -> list[Panel]:
    """Accuracies (S1, S2, S_comp and the S1·S2 expected without a gap) and Δ with its bootstrap interval."""
    lines = [Line(label, _series(history, mode, em, key)) for key, label in ACCURACY]
    lines.append(Line("S1·S2", _series(history, mode, em, "expected"), style={"linestyle": "--"}))
    band = {"linestyle": ":", "marker": "", "color": "0.45"}
    gap = [Line("Δ", _series(history, mode, em, "gap"), style={"color": "C3"}),
           Line("interval", _series(history, mode, em, "gap", "low"), style=band),
           Line("_upper", _series(history, mode, em, "gap", "high"), style=band),
           Line("_zero", [0.0] * len(history), style={"color": "0.2", "linewidth": 0.8, "marker": ""})]
    return [Panel(f"Compositional accuracy ({mode}, {em})", lines, percent=True),
            Panel(f"Reasoning gap Δ = S_comp − S1·S2 ({mode}, {em})", gap, percent=True)]


def _cell(estimate: Any) -> str:
    """A percentage with its interval, e.g. `12.0% [6.0, 18.0]`."""
    if not isinstance(estimate, dict):
        return "–"
    low, high = estimate.get("low"), estimate.get("high")
    numbers = isinstance(low, (int, float)) and isinstance(high, (int, float))
    ci = f" [{100 * low:.1f}, {100 * high:.1f}]" if numbers else ""
    return pct(estimate.get("value")) + (ci if estimate.get("value") is not None else "")


def gap_rows(history: History) -> list[list[str]]:
    """One row per iteration, answer mode and extraction."""
    rows = []
    for t, metrics in enumerate(history):
        comp = metrics.get("compositional")
        for mode, by_em in (pick(comp, "modes") or {}).items():
            for em, g in by_em.items():
                rows.append([str(t), mode, em, str(comp.get("n_pairs", "–")),
                             *(_cell(g.get(key)) for key, _ in TABLE)])
    return rows


def compositional_section(ctx: ReportContext) -> Section | None:
    """Plots and a table of the gap per iteration; None when no iteration measured it."""
    history = ctx.run.history
    kinds = measured(history)
    if not kinds:
        return None
    panels = [p for mode, em in kinds for p in gap_panels(history, mode, em)]
    last = next(m["compositional"] for m in reversed(history) if pick(m, "compositional", "modes"))
    caption = (f"{last.get('n_pairs', '?')} pairs of {last.get('task', '?')} ({last.get('split', '?')}), greedy, "
               f"{last.get('shots', '?')}-shot; dotted: the {100 * float(last.get('confidence', 0.95)):.0f}% "
               "bootstrap interval of Δ over pairs. Δ < 0: the model solves the two problems alone more often than "
               "chained, where Q1's answer must be carried into Q2 (Hosseini et al. 2024).")
    html = fragment("figure.html.j2", src=data_uri(panels, ncols=2), alt="reasoning gap per iteration",
                    caption=caption)
    head = ["iteration", "mode", "extraction", "pairs", *(label for _, label in TABLE)]
    note = ("Strict reads the stated answers (`The Q1 answer is N`, `The final answer is N`); flexible also accepts "
            "`X = N` and the last number. S_comp counts a pair when both answers inside it are right. Transcripts: "
            "compositional.jsonl in each iteration's folder.")
    html += fragment("table.html.j2", head=head, rows=gap_rows(history), note=note)
    return Section("compositional", "Compositional GSM: reasoning gap per iteration", html)
