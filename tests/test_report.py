"""The HTML report and the run comparison: built from a real micro run (slow) and from constructed run
directories whose records are chosen by hand, so which problems improved or regressed is known."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl, write_jsonl
from selfimprove.metrics import improvement_set
from selfimprove.metrics.summary import summarize_splits
from selfimprove.report.compare import change_cell
from selfimprove.report.html import render_report, write_comparison, write_report
from selfimprove.report.load import load_run
from selfimprove.report.samples import BrowserSection
from selfimprove.report.sections import run_verdict
from selfimprove.types import Completion, Record
from selfimprove.verdict import VerdictConfig, decide

from conftest import selfimprove, write_config

RUN_SECTIONS = ["verdict", "numbers", "accuracy", "diversity", "generalization", "improvement", "samples", "run"]
LOOP_SECTIONS = [*RUN_SECTIONS[:6], "data", *RUN_SECTIONS[6:]]  # with the loop's `data` entry


class Page(HTMLParser):
    """What a test needs from a report: section ids in order, images, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.scripts = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


# --- a constructed run: greedy grades per iteration chosen by hand ---------------------------------
# test p0..p5 (difficulty 1,1,2,2,3,3), ood q0..q2 (difficulty 4). Test pass@1: 3/6 -> 4/6 -> 4/6.
# Against iteration 0, p1 and p3 improve by iteration 2 and p5 regresses; IS(2) against iteration 1 is
# {p1}. Iteration 1 is real progress (coverage rises, nothing else moves); at iteration 2 OOD pass@1
# falls 2/3 -> 0, the correct samples collapse onto one text and the easy-hard disparity grows.
GREEDY = {
    "test": {"p0": "TTT", "p1": "FFT", "p2": "TTT", "p3": "FTT", "p4": "FFF", "p5": "TTF"},
    "ood": {"q0": "TTF", "q1": "TTF", "q2": "FFF"},
}
EVIL = "<script>alert('x')</script>"


def completion(ok: bool, text: str) -> Completion:
    answer = "7" if ok else "3"
    return Completion(f"{text} The answer is {answer}.", 8, None, answer, ok, answer, ok)


def samples(pid: str, t: int, greedy_ok: bool) -> list[Completion]:
    """4 samples: at iteration 0, 2 correct when the greedy answer is right, else none; later 3 or 1."""
    right = (2 if greedy_ok else 0) if t == 0 else (3 if greedy_ok else 1)
    texts = [("the one solution" if t == 2 else f"sample {j} of {pid} solution {j}") for j in range(right)]
    return [completion(True, x) for x in texts] + [completion(False, f"wrong {j} {pid}") for j in range(4 - right)]


def iteration_records(t: int) -> list[Record]:
    records = []
    for split, problems in GREEDY.items():
        for i, (pid, grades) in enumerate(problems.items()):
            ok = grades[t] == "T"
            text = f"greedy {pid} at {t}" + (f" {EVIL}" if (pid, t) == ("p1", 2) else "")
            meta = {"difficulty": 1 + i // 2 if split == "test" else 4}
            prompt = f"Q: problem {pid}?\nA:"
            records.append(Record(pid, t, split, prompt, "7", meta, completion(ok, text), samples(pid, t, ok)))
    return records


def make_run(root: Path, name: str = "built", iterations: int = 3, config: dict[str, Any] | None = None) -> Path:
    run = root / name
    history = []
    for t in range(iterations):
        records = iteration_records(t)
        metrics = {"iteration": t, **summarize_splits(records)}
        if t >= 2:
            metrics["improvement"] = improvement_set(records, iteration_records(1))
        if t >= 1:  # what `selfimprove run` adds: the data iteration t trained on
            metrics["data"] = {"method": "sft", "improve_sampled_accuracy": 0.25 * t, "train_rows": 10 + t,
                               "train_rows_by_source": {"sample": 10 + t}}
        write_jsonl(run / f"iter_{t:03d}" / "eval.jsonl", (r.to_dict() for r in records))
        (run / f"iter_{t:03d}" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
        (run / f"iter_{t:03d}" / ".done-eval").write_text("", encoding="utf-8")
        history.append(metrics)
    write_jsonl(run / "metrics.jsonl", history)
    cfg = {"loop": {"method": "sft"}, "verdict": {"min_pass1_gain": 0.05}} if config is None else config
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return run


def test_constructed_run_report_sections_verdict_and_browser(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html"
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    assert page.sections == LOOP_SECTIONS
    assert len(page.images) == 4 and all(s.startswith("data:image/png;base64,") for s in page.images)
    assert page.scripts == 0 and "&lt;script&gt;alert(" in html  # model output is escaped, nothing runs
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing loaded from outside
    verdict = decide(load_run(run).history, VerdictConfig(min_pass1_gain=0.05))
    # on 6 + 3 problems the pass@1 rise and the OOD fall are within their paired intervals; the lexical
    # collapse onto one text is not (every resample shows it)
    assert verdict.label == "regress" and verdict.fired() == ["lexical_diversity_drop"]
    assert [s.name for s in verdict.signals if s.noise] == ["id_pass@1_gain", "ood_pass@1_drop", "disparity_growth"]
    assert "changed within noise" in page.plain and "95% interval of the change" in page.plain
    assert verdict.summary in page.plain and "REVERSAL" not in html  # label upper-cased by CSS only
    for signal in verdict.signals:
        assert signal.sentence in page.plain
    assert "pass@1 change 5.0%" in page.plain  # the run's config.yaml verdict section was used
    assert "iteration 1: <b>flat</b>; iteration 2: <b>regress</b>." in html
    # browser: p1 and p3 improved (p3 is in IS(2)), p5 regressed, each with one cell per iteration
    shown = re.findall(r"<b>(p\d|q\d)</b>", html)
    assert shown[:3] == ["p1", "p3", "p5"]
    assert "in IS(T)" in page.plain and "regressed" in page.plain
    for t in range(3):
        assert f"greedy p3 at {t} The answer is" in page.plain
    assert page.plain.count("iteration 2 · ✓ correct") >= 2


def test_numbers_table_and_improvement_table_hold_the_metrics(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    page = Page(render_report(run))
    metrics = json.loads((run / "iter_002" / "metrics.json").read_text())
    imp = metrics["improvement"]
    assert imp["problem_ids"] == ["p1"] and imp["size"] == 1
    text = page.plain
    # iteration, split, problems, greedy pass@1 strict (with its bootstrap interval) and flexible
    assert re.search(r"2 test 6 66\.7% \[\d+\.\d, \d+\.\d\] 66\.7%", text)
    assert f"2 1 9 {100 * imp['fraction']:.1f}% 4" in text  # |IS|, compared, share, M_1 samples
    assert f"{100 * imp['m1_pass@k']['2']:.1f}%" in text
    assert "2 sft 50.0% 12 sample: 12" in text  # the training data table


def test_browser_limits_and_options(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    html = render_report(run, browser=BrowserSection(improved=1, regressed=0, random=2, max_chars=40))
    shown = re.findall(r"<b>(p\d|q\d)</b>", html)
    assert len(shown) == 3 and shown[0] == "p1"
    assert "more characters]" in html  # texts longer than max_chars are cut


def test_verdict_override_keeps_the_runs_other_thresholds(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    override = VerdictConfig.model_validate({"compare_to": "best", "ood_max_drop": 0.9})
    page = Page(render_report(run, verdict=override))
    assert "pass@1 change 5.0%" in page.plain and "OOD drop 90.0%" in page.plain
    assert "Flat:" in page.plain and "compared with iteration 1 (the best by test pass@1)" in page.plain
    assert "within noise" in page.plain  # +16.7 points on 6 problems: inside its interval


def test_run_in_progress_and_single_iteration(tmp_path: Path) -> None:
    run = make_run(tmp_path, iterations=2)
    (run / "iter_002").mkdir()
    (run / "iter_002" / ".done-sample").write_text("")
    loaded = load_run(run)
    assert [it.index for it in loaded.iterations] == [0, 1] and "iteration 2 has no metrics yet" in loaded.notes[0]
    page = Page(render_report(run))
    assert "improvement" not in page.sections and "iterations 0–1" in page.plain
    single = make_run(tmp_path, "single", iterations=1)
    page = Page(render_report(single))
    assert "no verdict" in page.plain and "Only iteration 0 is evaluated" in page.plain


def test_metrics_jsonl_alone_is_enough(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    for t in range(3):
        (run / f"iter_{t:03d}" / "metrics.json").unlink()
    assert [len(m) > 1 for m in load_run(run).history] == [True, True, True]
    assert Page(render_report(run)).sections == LOOP_SECTIONS


def test_eval_directory_is_one_iteration(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    records = iteration_records(0)
    write_jsonl(out / "eval.jsonl", (r.to_dict() for r in records))
    (out / "metrics.json").write_text(json.dumps(summarize_splits(records)))
    page = Page(render_report(out))
    assert "greedy p0 at 0" in page.plain and "no verdict" in page.plain


def test_bad_run_directories_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_run(tmp_path / "missing")
    with pytest.raises(UserError, match="no evaluated iteration"):
        load_run(tmp_path)
    run = make_run(tmp_path, config={"verdict": {"min_pass1_gian": 0.1}})
    with pytest.raises(UserError, match="did you mean 'min_pass1_gain'"):
        render_report(run)
    broken = make_run(tmp_path, "broken")
    (broken / "iter_001" / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match=r"iter_001.metrics\.json: not valid JSON"):
        load_run(broken)


def test_comparison_puts_runs_on_shared_axes(tmp_path: Path) -> None:
    sft = make_run(tmp_path, "sft", config={"loop": {"method": "sft"}})
    dpo = make_run(tmp_path, "dpo", iterations=2, config={"loop": {"method": "dpo"}, "verdict": {"ood_max_drop": 0.9}})
    out = write_comparison([sft, dpo], tmp_path / "cmp" / "compare.html")
    page = Page(out.read_text(encoding="utf-8"))
    assert page.sections == ["verdicts", "curves", "configs"] and len(page.images) == 1
    assert "sft 2 regress" in page.plain and "dpo 1 flat" in page.plain
    assert "+16.7 points [-33.3, +66.7]" in page.plain  # ID pass@1 change with its paired interval
    # the diversity measures and the disparity also come with their paired intervals
    for head in ("lexical diversity change", "semantic diversity change", "logical diversity change",
                 "disparity change"):
        assert head in page.plain
    verdict, _ = run_verdict(load_run(sft).history, VerdictConfig())
    assert verdict is not None
    for name, unit in (("lexical_diversity_drop", "relative"), ("disparity_growth", "value")):
        signal = next(s for s in verdict.signals if s.name == name)
        assert signal.low is not None and change_cell(signal, unit) in page.plain
    assert "loop.method sft dpo" in page.plain and "verdict.ood_max_drop" in page.plain
    with pytest.raises(UserError, match="nothing to compare"):
        write_comparison([], tmp_path / "x.html")


def _gain(before: float, after: float) -> Any:
    from selfimprove.verdict import Signal

    return Signal("id_pass@1_gain", after - before > 0.05, before, after, after - before, 0.05, "")


def test_headroom_share_is_the_change_over_gold_and_only_from_the_same_start() -> None:
    from selfimprove.report.compare import headroom_rows

    gold = _gain(0.40, 0.72)
    rows, note = headroom_rows(gold, [("demo", "sft", _gain(0.40, 0.50)), ("dpo", "dpo", _gain(0.40, 0.22)),
                                      ("other", "sft", _gain(0.30, 0.50))])
    assert [r[5] for r in rows] == ["31%", "-56%", "–"]  # 10 of 32 points; a fall is a negative share
    assert rows[0][:5] == ["demo", "sft", "40.0", "+10.0 points", "+32.0 points"]
    assert "other starts from another pass@1" in note
    rows, note = headroom_rows(_gain(0.40, 0.38), [("demo", "sft", _gain(0.40, 0.50))])
    assert rows[0][5] == "–" and "gold control did not raise pass@1" in note


def test_comparison_with_a_gold_run_shows_the_headroom_section(tmp_path: Path) -> None:
    sft = make_run(tmp_path, "sft", config={"loop": {"strategy": "sft"}})
    gold = make_run(tmp_path, "gold", config={"loop": {"strategy": "gold"}})
    page = Page(write_comparison([sft, gold], tmp_path / "c.html").read_text(encoding="utf-8"))
    assert page.sections == ["verdicts", "headroom", "curves", "configs"]
    assert "share of the headroom" in page.plain and "against the gold control gold" in page.plain
    page = Page(write_comparison([sft], tmp_path / "d.html").read_text(encoding="utf-8"))
    assert "headroom" not in page.sections  # no gold run, no section


def test_same_named_runs_get_distinct_labels(tmp_path: Path) -> None:
    a, b = make_run(tmp_path / "a", "run"), make_run(tmp_path / "b", "run")
    page = Page(write_comparison([a, b], tmp_path / "c.html").read_text(encoding="utf-8"))
    assert "a/run" in page.plain and "b/run" in page.plain


@pytest.mark.slow
def test_cli_report_and_compare(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, "a"), make_run(tmp_path, "b", iterations=2)
    cli = [sys.executable, "-m", "selfimprove.cli"]
    done = subprocess.run([*cli, "report", str(a), "browser.random=0", "verdict.compare_to=best"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # 6 test problems: a +16.7-point gain is inside its paired interval, so the verdict says so instead of "progress"
    assert str(a / "report.html") in done.stdout and "flat" in done.stdout and "within noise" in done.stdout
    assert "the best by test pass@1" in (a / "report.html").read_text(encoding="utf-8")
    out = tmp_path / "cmp.html"
    done = subprocess.run([*cli, "compare", str(a), str(b), "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert Page(out.read_text(encoding="utf-8")).sections == ["verdicts", "curves", "configs"]
    done = subprocess.run([*cli, "report", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "run directory not found" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_report_of_a_real_micro_run_has_every_section(micro_run_dir: Path) -> None:
    start = time.monotonic()
    out = write_report(micro_run_dir)
    seconds = time.monotonic() - start
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    assert page.sections == RUN_SECTIONS
    assert len(page.images) == 4
    history = [json.loads((micro_run_dir / f"iter_{t:03d}" / "metrics.json").read_text()) for t in range(3)]
    assert [json.loads(line) for line in (micro_run_dir / "metrics.jsonl").read_text().splitlines()] == history
    verdict = decide(history, VerdictConfig(min_pass1_gain=0.02))  # the fixture's config.yaml sets 0.02
    assert verdict.summary in page.plain and "pass@1 change 2.0%" in page.plain
    # every iteration's greedy completion of the first problem shown comes from that iteration's eval.jsonl
    first = re.search(r"<b>([^<]+)</b> · split (\w+)", html)
    assert first is not None
    for t in range(3):
        rows = read_jsonl(micro_run_dir / f"iter_{t:03d}" / "eval.jsonl")
        row = next(r for r in rows if (r["problem_id"], r["split"]) == first.groups())
        assert Page(row["greedy"]["text"][:60]).plain.strip() in page.plain
    assert len(html) < 2_000_000
    print(f"report: {len(html) / 1e3:.0f} kB in {seconds:.2f} s")


@pytest.mark.slow
def test_report_of_selfimprove_run(micro_model: Path, tmp_path: Path) -> None:
    """`selfimprove run` writes report.html itself (through write_report) from a directory of its own making."""
    config = {
        "name": "loop", "out": str(tmp_path / "runs"),
        "task": {"name": "arith", "options": {"sizes": {"improve": 6, "test": 6, "ood": 4, "seed": 16}}},
        "model": {"path": str(micro_model)}, "sampling": {"n": 4, "max_new_tokens": 40},
        "eval": {"k": 2, "semantic": False},
        "train": {"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1},
        "loop": {"iterations": 2}, "verdict": {"min_pass1_gain": 0.03},
    }
    done = selfimprove("run", str(write_config(tmp_path, config)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "loop"
    page = Page((run / "report.html").read_text(encoding="utf-8"))
    # a real loop also records the collapse monitor (eval.perplexity is on by default)
    assert page.sections == [*LOOP_SECTIONS[:7], "collapse-monitor", *LOOP_SECTIONS[7:]]
    assert len(page.images) == 5
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert decide(history, VerdictConfig(min_pass1_gain=0.03)).summary in page.plain


def test_browser_shows_every_attempt_of_a_self_correction_episode() -> None:
    from selfimprove.report.samples import _cell
    from selfimprove.types import Completion, Record

    first, second = Completion("2+2=5. The answer is 5.", correct=False), Completion("2+2=4. The answer is 4.", correct=True)
    episode = Completion(second.text, answer="4", correct=True, attempts=[first, second])
    cell = _cell(1, Record("p", 1, "test", "Q", "4", greedy=episode), 500)
    assert cell is not None and cell.correct is True
    assert cell.text == "[attempt 1: wrong] 2+2=5. The answer is 5.\n\n[attempt 2: right] 2+2=4. The answer is 4."


def test_correction_rows_read_both_layouts_with_intervals() -> None:
    from selfimprove.report.correction import correction_rows

    corr = {"n": 4, "acc_t1": 0.5, "acc_t2": 0.25, "delta": -0.25, "delta_i2c": 0.0, "delta_c2i": 0.25,
            "intervals": {"delta": [-0.75, 0.0]}}
    history = [{"iteration": 0, "test": {"correction": corr}}, {"iteration": 1, "correction": {"ood": corr}}]
    rows = correction_rows(history)
    assert [r[:3] for r in rows] == [["0", "test", "4"], ["1", "ood", "4"]]
    assert rows[0][3:] == ["50.0%", "25.0%", "-25.0% [-75.0%, 0.0%]", "0.0%", "25.0%"]
