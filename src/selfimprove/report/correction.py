"""The report's self-correction section: per iteration and split, the two-attempt metrics of the greedy
answers (Kumar et al. 2024: Acc@t1, Acc@t2, Δ(t1,t2), Δi→c, Δc→i) with their paired intervals, for runs and
evaluations that recorded a second attempt (`eval.correction`, `selfimprove eval --attempts 2`)."""

from __future__ import annotations

from typing import Any

from selfimprove.metrics.correction import KEYS
from selfimprove.metrics.table import METRICS
from selfimprove.report.context import ReportContext
from selfimprove.report.render import Section, fragment, pct


def _cell(corr: dict[str, Any], key: str) -> str:
    low, high = (corr.get("intervals") or {}).get(key) or (None, None)
    ci = f" [{pct(low)}, {pct(high)}]" if low is not None and high is not None else ""
    return pct(corr.get(key)) + ci


def correction_rows(history: list[dict[str, Any]]) -> list[list[str]]:
    """One row per (iteration, split) whose metrics hold a two-attempt `correction` dict."""
    rows = []
    for m in history:
        per_split = {split: sm.get("correction") for split, sm in m.items() if isinstance(sm, dict)}
        per_split.update(m.get("correction") or {})  # the evaluation suite's layout: {"correction": {split: ...}}
        for split, corr in per_split.items():
            if isinstance(corr, dict) and corr.get("acc_t1") is not None:
                rows.append([str(m.get("iteration", "–")), split, str(corr.get("n", "–")),
                             *(_cell(corr, key) for key in KEYS)])
    return rows


def correction_section(ctx: ReportContext) -> Section | None:
    """None for runs without a second attempt."""
    rows = correction_rows(ctx.run.history)
    if not rows:
        return None
    head = ["iteration", "split", "problems", *(METRICS[key].label for key in KEYS)]
    note = ("Greedy first attempt, the task's correction instruction, greedy second attempt. Δi→c / Δc→i: shares of "
            "problems a second attempt fixed / broke (lower Δc→i is better). Brackets: paired bootstrap intervals.")
    return Section("correction", "Self-correction", fragment("table.html.j2", head=head, rows=rows, note=note))
