"""The report's step-check section, sample-browser filter, verdict note, and interval bands that never cross
their quantity's floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.collections import PolyCollection

from selfimprove.jsonl import write_jsonl
from selfimprove.metrics.summary import summarize_splits
from selfimprove.report.html import render_report
from selfimprove.report.plots import Line, Panel, draw
from selfimprove.types import Completion, Record

LUCKY = " 8-1=8. 8/4=2. The answer is 2."  # right answer through a wrong step
GOOD = " 8-1=7. 7*2=14. The answer is 2."


def _c(text: str, correct: bool, steps_ok: bool | None, wrong: list[str] | None = None) -> Completion:
    return Completion(text, 8, None, "2" if correct else "5", correct, "2" if correct else "5", correct, steps_ok,
                      2 if steps_ok is not None else 0, wrong or [])


def _records(t: int) -> list[Record]:
    out = []
    for i in range(4):
        lucky = t == 1 and i < 2
        greedy = _c(LUCKY, True, False, ["8-1=8"]) if lucky else _c(GOOD, i % 2 == 0, True)
        samples = [_c(LUCKY, True, False, ["8-1=8"]), _c(GOOD, True, True), _c(GOOD, False, True)]
        out.append(Record(f"p{i}", t, "test", f"Q: {i}?\nA:", "2", {"difficulty": 1 + i % 2}, greedy, samples))
    return out


def test_step_section_browser_filter_and_verdict_note(tmp_path: Path) -> None:
    run = tmp_path / "steps-run"
    for t in (0, 1):
        records = _records(t)
        metrics = {"iteration": t, **summarize_splits(records)}
        if t:
            metrics["data"] = {"method": "sft", "train_rows": 10, "train_rows_wrong_step": 0.3}
        write_jsonl(run / f"iter_{t:03d}" / "eval.jsonl", (r.to_dict() for r in records))
        (run / f"iter_{t:03d}" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    metrics = json.loads((run / "iter_001" / "metrics.json").read_text())
    assert metrics["test"]["steps"]["false_positive_rate"] == 0.5  # 4 lucky of 8 answer-correct samples
    html = render_report(run)
    assert 'id="steps"' in html and "Right answer, wrong reasoning" in html
    assert 'id="only-wrong-steps"' in html and html.count('class="problem has-wrong-step"') == 2
    assert "wrong step: 8-1=8" in html
    assert "30% at iteration 1" in html  # the verdict names the training rows' wrong steps


def test_bands_never_go_below_the_floor() -> None:
    line = Line("ppl", [1.5, 2.0], band=([-1.0, 0.4], [4.0, 5.0]))
    for floor in (0.0, 1.0):
        fig = draw([Panel("perplexity", [line], floor=floor)], ncols=1)
        polys = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
        assert polys and min(np.min(p.get_paths()[0].vertices[:, 1]) for p in polys) >= floor
    rate = draw([Panel("rate", [Line("r", [0.01], band=([-0.05], [0.06]))], percent=True)], ncols=1)
    assert min(np.min(p.get_paths()[0].vertices[:, 1]) for p in rate.axes[0].collections) >= 0.0
