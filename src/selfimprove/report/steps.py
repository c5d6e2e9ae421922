"""Right answer, wrong reasoning in the report: per iteration, the false-positive rate of answer checking
(answer-correct completions with a wrong step), CoT-pass@k next to pass@k (Wen et al. 2025, arXiv
2506.14245), and the same for the rows each iteration trained on (selfimprove.metrics.steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selfimprove.report.load import number, pick
from selfimprove.report.plots import Line, Panel, data_uri
from selfimprove.report.render import Section, fragment, pct

if TYPE_CHECKING:
    from selfimprove.report.context import ReportContext


def _top(m: dict[str, Any], split: str) -> str | None:
    ks = sorted(pick(m, split, "steps", "cot_pass@k") or {}, key=int)
    return ks[-1] if ks else None


def steps_section(ctx: ReportContext) -> Section | None:
    """None when no iteration has step checks (a task without them, or a run from before they existed)."""
    split, history = ctx.verdict.id_split, ctx.run.history
    if not any(pick(m, split, "steps") for m in history):
        return None
    rows = []
    for it in ctx.run.iterations:
        m, top = it.metrics, _top(it.metrics, split)
        rows.append([str(it.index), pct(pick(m, split, "steps", "false_positive_rate")),
                     pct(pick(m, split, "steps", "greedy_false_positive_rate")),
                     pct(pick(m, split, "greedy_pass@1")), pct(pick(m, split, "steps", "greedy_cot_pass@1")),
                     f"{pct(pick(m, split, 'pass@k', top))} (k={top})" if top else "–",
                     f"{pct(pick(m, split, 'steps', 'cot_pass@k', top))} (k={top})" if top else "–",
                     pct(pick(m, split, "steps", "checked_share")), pct(pick(m, "data", "train_rows_wrong_step")),
                     pct(pick(m, "data", "improve_false_positive_rate"))])
    head = ["iteration", f"false-positive rate ({split} samples)", "greedy", "greedy pass@1", "greedy CoT-pass@1",
            "pass@k", "CoT-pass@k", "steps checked", "training rows with a wrong step", "improve-split samples"]
    note = ("False-positive rate: the share of answer-correct completions whose step check found a wrong equation "
            "(Wang et al. 2025). CoT-pass@k counts a sample only when its answer is right and its steps were checked "
            "and hold (Wen et al. 2025). Training rows: the rows iteration t trained on; loop.require_valid_steps "
            "drops those with a wrong step. Step check: every `a op b = c` statement, exactly (selfimprove.verify.steps).")
    html = fragment("table.html.j2", head=head, rows=rows, note=note)
    x = [it.index for it in ctx.run.iterations]
    panels = [
        Panel("Right answer, wrong step", [
            Line(f"{split} samples", [number(m, split, "steps", "false_positive_rate") for m in history], x=x),
            Line("training rows", [number(m, "data", "train_rows_wrong_step") for m in history], x=x,
                 style={"linestyle": "--"})], ylabel="share of answer-correct", percent=True),
        Panel(f"pass@k vs CoT-pass@k ({split}, largest k)", [
            Line("pass@k", [number(m, split, "pass@k", _top(m, split) or "") for m in history], x=x),
            Line("CoT-pass@k", [number(m, split, "steps", "cot_pass@k", _top(m, split) or "") for m in history], x=x,
                 style={"linestyle": "--"})], percent=True),
    ]
    html += fragment("figure.html.j2", src=data_uri(panels, ncols=2), alt="wrong steps per iteration", caption="")
    return Section("steps", "Right answer, wrong reasoning (step checks)", html)
