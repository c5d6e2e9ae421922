"""The report's Compositional GSM section: a constructed run whose per-pair outcomes are chosen by hand, so
S1, S2, S_comp and Δ of every iteration are known (Hosseini et al. 2024)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.compositional.gap import reasoning_gap
from selfimprove.jsonl import write_jsonl
from selfimprove.report.compositional import gap_rows, measured
from selfimprove.report.html import render_report
from selfimprove.report.load import load_run

from test_report import LOOP_SECTIONS, Page, make_run

# Per iteration, 4 pairs: (Q1 alone, Q2 alone, Q1 in the pair, Q2 in the pair). S1 and S2 rise while S_comp
# peaks at iteration 1 and falls, as the paper saw under continued GSM8K fine-tuning.
OUTCOMES = [
    ("TFTF", "TTFT", "TFTF", "TTFT"),  # S1 .50 S2 .75 S_comp .25
    ("TTTF", "TTTF", "TTTF", "TTTF"),  # S1 .75 S2 .75 S_comp .75
    ("TTTT", "TTTT", "TFFF", "TTTT"),  # S1 1.0 S2 1.0 S_comp .25
]
EXPECTED = [(0.5, 0.75, 0.25), (0.75, 0.75, 0.75), (1.0, 1.0, 0.25)]


def flags(text: str) -> list[bool]:
    return [c == "T" for c in text]


def gap_metrics(t: int) -> dict:
    report = reasoning_gap(*(flags(v) for v in OUTCOMES[t]), n_resamples=500, seed=t).to_dict()
    return {"task": "arith", "split": "compositional", "n_pairs": 4, "shots": 0, "confidence": 0.95,
            "modes": {"cot": {"strict": report, "flexible": report}}}


def add_compositional(run: Path) -> list[dict]:
    """Put the gap into every iteration's metrics.json and metrics.jsonl, as the loop's suite does."""
    history = []
    for t in range(len(OUTCOMES)):
        file = run / f"iter_{t:03d}" / "metrics.json"
        metrics = {**json.loads(file.read_text()), "compositional": gap_metrics(t)}
        file.write_text(json.dumps(metrics), encoding="utf-8")
        history.append(metrics)
    write_jsonl(run / "metrics.jsonl", history)
    return history


def test_section_holds_the_gap_of_every_iteration(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    history = add_compositional(run)
    page = Page(render_report(run))
    assert page.sections == [*LOOP_SECTIONS[:-2], "compositional", *LOOP_SECTIONS[-2:]]
    assert len(page.images) == 5  # test_report's 4 figures, and one with accuracies and Δ per extraction
    text = page.plain
    for t, (s1, s2, s_comp) in enumerate(EXPECTED):
        gap = history[t]["compositional"]["modes"]["cot"]["strict"]["gap"]
        assert gap["value"] == pytest.approx(s_comp - s1 * s2)
        cells = [f"{100 * v:.1f}%" for v in (s1, s2, s_comp, s1 * s2)]
        delta = f"{100 * gap['value']:.1f}% [{100 * gap['low']:.1f}, {100 * gap['high']:.1f}]"
        assert f"{t} cot strict 4 {cells[0]} [" in text and delta in text
        for cell in cells:
            assert cell in text
    assert "4 pairs of arith (compositional), greedy, 0-shot" in text


def test_rows_and_kinds_from_history(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    add_compositional(run)
    history = load_run(run).history
    assert measured(history) == [("cot", "strict"), ("cot", "flexible")]
    rows = gap_rows(history)
    assert [r[:4] for r in rows[:2]] == [["0", "cot", "strict", "4"], ["0", "cot", "flexible", "4"]]
    assert len(rows) == 6 and rows[2][6].startswith("75.0%")  # iteration 1's S_comp
    history[1] = {k: v for k, v in history[1].items() if k != "compositional"}  # not measured at iteration 1
    assert [r[0] for r in gap_rows(history)] == ["0", "0", "2", "2"]
