"""The compositional suite of the loop's evaluation (eval.compositional, Hosseini et al. 2024): S1, S2, S_comp
and Δ of every iteration's model, recomputed here from the transcripts the run wrote; the gsm8k pairs it
builds from GSM8K test; the console caption."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfimprove.compositional.build import build_pairs
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.gap import reasoning_gap
from selfimprove.compositional.pairs import load_gsm8k
from selfimprove.suites.compositional import CompositionalSuite, suite_task
from selfimprove.errors import UserError
from selfimprove.suites.config import EvalSuitesSection as EvalSection
from selfimprove.jsonl import read_jsonl
from selfimprove.report.console import metrics_table
from selfimprove.tasks import arith_world as world
from selfimprove.tasks import get_task
from selfimprove.types import Record

from conftest import selfimprove

PAIRS = 6
SIZES = {"improve": 12, "test": 6, "ood": 4, "seed": 40, "compositional": PAIRS}
FIT_STEPS = 120


def fitting_rows() -> list[tuple[str, str]]:
    """(prompt, reference solution) of Q1 alone and Q2 alone (X filled in) of the first PAIRS arith pairs;
    never a composed prompt."""
    problems = get_task("arith", sizes=SIZES).load("compositional")
    return [(p.metadata[f"{role}_prompt"], " " + getattr(c, role).solution())
            for c, p in zip(world.compositional_problems(PAIRS, 0), problems) for role in ("q1", "q2")]


@pytest.fixture(scope="module")
def composing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama fitted (AdamW on the model's own loss, completion tokens only, as conftest's `memorized`)
    to the single problems of the pairs and never to a composed prompt: it solves most Q1s and Q2s alone and
    no pair, a negative gap by construction, so the recomputation below is not a sum of zeros. A plain loop:
    the trainer's per-step overhead would take a minute."""
    import torch

    from selfimprove.tiny.model import TinyModelSection, build_model
    from selfimprove.tiny.tokenizer import build_tokenizer
    from selfimprove.train.common import save_model

    out = tmp_path_factory.mktemp("composing_model")
    tokenizer = build_tokenizer()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(tokenizer, TinyModelSection(hidden_size=64, layers=2, heads=4, intermediate_size=128))
    encoded = [(tokenizer(prompt)["input_ids"], tokenizer(completion, add_special_tokens=False)["input_ids"]
                + [tokenizer.eos_token_id]) for prompt, completion in fitting_rows()]
    width = max(len(a) + len(b) for a, b in encoded)
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    labels = torch.full((len(encoded), width), -100)
    for i, (prompt, completion) in enumerate(encoded):
        ids[i, : len(prompt) + len(completion)] = torch.tensor(prompt + completion)
        labels[i, len(prompt) : len(prompt) + len(completion)] = torch.tensor(completion)
    mask = (labels != -100) | (torch.arange(width) < torch.tensor([len(a) for a, _ in encoded])[:, None])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    try:
        for _ in range(FIT_STEPS):
            model(input_ids=ids, attention_mask=mask.long(), labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    save_model(model.eval(), tokenizer, out)
    return out


def suite_run_config(model: Path, out: Path) -> dict[str, Any]:
    return {
        "name": "suite", "out": str(out), "seed": 3,
        "task": {"name": "arith", "options": {"sizes": SIZES}},
        "model": {"path": str(model)},
        "sampling": {"n": 4, "max_new_tokens": 96},
        "eval": {"splits": ["test", "compositional"], "k": 2, "semantic": False,
                 "compositional": {"enabled": True, "n_resamples": 400, "seed": 5}},
        "train": {"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1},
        "loop": {"iterations": 1, "strategy": "sft"},
    }


def verdicts_from_records(records: list[Record], flexible: bool) -> tuple[list[bool], ...]:
    """Per pair, from the transcripts alone: Q1 alone, Q2 alone, Q1 and Q2 inside the composed answer."""
    by_pair: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        by_pair[r.metadata["pair_id"]][r.metadata["role"]] = r
    suffix = "_flexible" if flexible else ""
    ids = sorted(by_pair, key=lambda pid: int(pid.rsplit("-", 1)[1]))
    q1 = [bool(getattr(by_pair[i]["q1"].greedy, f"correct{suffix}")) for i in ids]
    q2 = [bool(getattr(by_pair[i]["q2"].greedy, f"correct{suffix}")) for i in ids]
    comp_q1 = [bool(by_pair[i]["pair"].metadata[f"q1_correct{suffix}"]) for i in ids]
    comp_q2 = [bool(by_pair[i]["pair"].metadata[f"q2_correct{suffix}"]) for i in ids]
    both = [bool(getattr(by_pair[i]["pair"].greedy, f"correct{suffix}")) for i in ids]
    assert both == [a and b for a, b in zip(comp_q1, comp_q2)]  # S_comp counts a pair only when both are right
    return q1, q2, comp_q1, comp_q2


def check_iteration(iter_dir: Path, t: int) -> dict[str, Any]:
    """metrics.json's compositional entry equals the gap recomputed from compositional.jsonl."""
    metrics = json.loads((iter_dir / "metrics.json").read_text())
    comp = metrics["compositional"]
    records = [Record.from_dict(row) for row in read_jsonl(iter_dir / "compositional.jsonl")]
    assert len(records) == 3 * PAIRS and {r.iteration for r in records} == {t}
    assert {r.split for r in records} == {f"compositional/cot/{role}" for role in ("pair", "q1", "q2")}
    assert comp["n_pairs"] == PAIRS and comp["n_problems"] == PAIRS  # the gap merged with the split's summary
    assert comp["task"] == "arith" and comp["records"] == "compositional.jsonl"
    for em, flexible in (("strict", False), ("flexible", True)):
        q1, q2, comp_q1, comp_q2 = verdicts_from_records(records, flexible)
        got = comp["modes"]["cot"][em]
        s1, s2 = sum(q1) / PAIRS, sum(q2) / PAIRS
        s_comp = sum(a and b for a, b in zip(comp_q1, comp_q2)) / PAIRS
        assert (got["s1"]["value"], got["s2"]["value"], got["s_comp"]["value"]) == pytest.approx((s1, s2, s_comp))
        assert got["gap"]["value"] == pytest.approx(s_comp - s1 * s2)
        again = reasoning_gap(q1, q2, comp_q1, comp_q2, n_resamples=400, seed=5).to_dict()
        for key in ("s1", "s2", "s_comp", "expected", "gap", "q1_in_composition"):
            assert got[key] == pytest.approx(again[key]), (t, em, key)  # the intervals too: same bootstrap
    return metrics


@pytest.mark.slow
def test_run_with_compositional_suite(composing_model: Path, tmp_path: Path) -> None:
    config = suite_run_config(composing_model, tmp_path / "runs")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = selfimprove("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "suite"
    history = [check_iteration(run / f"iter_{t:03d}", t) for t in (0, 1)]
    strict0 = history[0]["compositional"]["modes"]["cot"]["strict"]
    assert strict0["s1"]["value"] > 0 and strict0["s2"]["value"] > 0 and strict0["gap"]["value"] < 0
    assert "compositional cot, 6 pairs" in result.stdout and "S_comp" in result.stdout
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["compositional"] for m in lines] == [m["compositional"] for m in history]
    # eval.splits holds the pairs too: their greedy completions are reused, not sampled again
    evaluated = {r["prompt"]: r["greedy"]["text"] for r in read_jsonl(run / "iter_000" / "eval.jsonl")}
    pair_rows = [r for r in read_jsonl(run / "iter_000" / "compositional.jsonl") if r["metadata"]["role"] == "pair"]
    assert all(evaluated[r["prompt"]] == r["greedy"]["text"] for r in pair_rows)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="compositional"' in html and "reasoning gap per iteration" in html
    for t, metrics in enumerate(history):
        g = metrics["compositional"]["modes"]["cot"]["strict"]
        assert f'<td class="num">{t}</td><td>cot</td><td>strict</td><td class="num">{PAIRS}</td>' in html
        assert f"{100 * g['s_comp']['value']:.1f}%" in html


def test_suite_is_off_by_default_and_typed() -> None:
    section = EvalSection()
    assert section.compositional.enabled is False and section.compositional.modes == ["cot"]
    with pytest.raises(ValueError, match="max_new_tokens"):
        EvalSection(compositional={"enabled": True, "max_new_tokens": 0})
    with pytest.raises(ValueError, match="extra"):
        EvalSection(compositional={"enable": True})


def test_suite_task_per_task(monkeypatch: pytest.MonkeyPatch) -> None:
    arith = get_task("arith", sizes={"compositional": 3})
    assert suite_task(arith, CompositionalSuite()) is arith  # its own compositional split
    with pytest.raises(UserError, match="enabled=false"):
        suite_task(get_task("csqa", data_dir="."), CompositionalSuite())
    monkeypatch.delenv("SELFIMPROVE_DATA_DIR", raising=False)
    with pytest.raises(UserError, match="data_dir"):
        suite_task(get_task("gsm8k", hub=False), CompositionalSuite())


def test_gsm8k_pairs_are_built_from_test_deterministically(shared_data: Path) -> None:
    build = BuildConfig(seed=7, num_pairs=20)
    task = suite_task(get_task("gsm8k", data_dir=str(shared_data)), CompositionalSuite(build=build))
    pairs = task.load("pairs")
    items = load_gsm8k(shared_data / "gsm8k" / "test.jsonl")
    expected, _ = build_pairs(items, items, build)
    assert [p.id for p in pairs] == [p.id for p in expected] and len(pairs) == 20
    assert all(p.metadata["q1_id"].startswith("gsm8k-test-") and p.metadata["q2_id"].startswith("gsm8k-test-")
               for p in pairs)
    again = suite_task(get_task("gsm8k", data_dir=str(shared_data)), CompositionalSuite(build=build)).load("pairs")
    assert [(p.prompt, p.gold) for p in again] == [(p.prompt, p.gold) for p in pairs]
    other = CompositionalSuite(build=build.model_copy(update={"seed": 8}))
    assert [p.id for p in suite_task(get_task("gsm8k", data_dir=str(shared_data)), other).load("pairs")] != \
        [p.id for p in pairs]


@pytest.mark.slow
def test_eval_gsm8k_with_suite(shared_data: Path, micro_model: Path, tmp_path: Path) -> None:
    """`selfimprove eval --task gsm8k` with the suite on: the gap on pairs built from GSM8K test."""
    out = tmp_path / "eval"
    result = selfimprove("eval", "--model", str(micro_model), "--task", "gsm8k", "--split", "test", "--limit", "3",
                         "--k", "0", "--out", str(out), f"task.options.data_dir={shared_data}",
                         "sampling.max_new_tokens=8", "eval.compositional.enabled=true",
                         "eval.compositional.n_resamples=100", "eval.compositional.max_new_tokens=12", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    comp = json.loads((out / "metrics.json").read_text())["compositional"]
    assert comp["task"] == "compositional_gsm" and comp["n_pairs"] == 3 and comp["max_new_tokens"] == 12
    rows = list(read_jsonl(out / "compositional.jsonl"))
    items = load_gsm8k(shared_data / "gsm8k" / "test.jsonl")
    expected, _ = build_pairs(items, items, BuildConfig())
    assert [r["problem_id"] for r in rows if r["metadata"]["role"] == "pair"] == [p.id for p in expected[:3]]
    assert all(r["greedy"]["num_tokens"] <= 12 for r in rows)


def test_console_caption_shows_s_comp_and_gap() -> None:
    report = reasoning_gap([True, True, False, True], [True, False, True, True], [True, False, False, True],
                           [True, True, False, False], n_resamples=200).to_dict()
    metrics = {"test": {"n_problems": 4, "greedy_pass@1": 0.5},
               "compositional": {"n_pairs": 4, "modes": {"cot": {"strict": report}}}}
    caption = str(metrics_table(metrics, "t").caption)
    assert "compositional cot, 4 pairs" in caption and "S1 75.0, S2 75.0" in caption
    gap = report["gap"]
    assert f"S_comp 25.0 [{100 * report['s_comp']['low']:.1f}" in caption
    assert f"Δ {100 * gap['value']:.1f} [{100 * gap['low']:.1f}, {100 * gap['high']:.1f}]" in caption
    assert metrics_table({"test": metrics["test"]}, "t").caption is None
