"""The self-improvement loop end to end: 2 iterations of each strategy through the real CLI, the real
sampler, verifier and TRL trainers, on a micro model and 12 arith problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selfimprove.curate import sft_rows
from selfimprove.jsonl import read_jsonl
from selfimprove.tasks import get_task
from selfimprove.types import Record

from conftest import STAR_HINT, selfimprove, write_config

SIZES = {"improve": 12, "test": 6, "ood": 4, "seed": 40}


def run_config(model: Path, out: Path, name: str, **loop: Any) -> dict[str, Any]:
    return {
        "name": name,
        "out": str(out),
        "seed": 3,
        "task": {"name": "arith", "options": {"sizes": SIZES}},
        "model": {"path": str(model)},
        "sampling": {"n": 8, "max_new_tokens": 48},
        "eval": {"k": 2, "semantic": False},
        "train": {"max_steps": 3, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1},
        "loop": {"iterations": 2, "hint": STAR_HINT, **loop},
    }


def start_run(tmp_path: Path, config: dict[str, Any], *flags: str) -> Path:
    result = selfimprove("run", str(write_config(tmp_path, config)), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "iteration 2" in result.stdout and "verdict" in result.stdout
    return Path(config["out"]) / config["name"]


def records(path: Path) -> list[Record]:
    return [Record.from_dict(row) for row in read_jsonl(path)]


def rows(path: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(path))


def check_layout(run: Path, methods: list[str]) -> None:
    """The run directory contract: files, markers, metrics.jsonl = the iterations' metrics.json in order."""
    assert (run / "config.yaml").is_file()
    assert {p.name for p in (run / "iter_000").iterdir()} >= {"eval.jsonl", "metrics.json", ".done-eval"}
    for t, method in enumerate(methods, 1):
        d = run / f"iter_{t:03d}"
        expected = {"samples.jsonl", f"train_{method}.jsonl", "model", "eval.jsonl", "metrics.json"}
        assert expected | {f".done-{s}" for s in ("sample", "curate", "train", "eval")} <= {p.name for p in d.iterdir()}
        assert not list(d.glob(".*.tmp")) and not (d / ".train-tmp").exists()
        assert {r.iteration for r in records(d / "eval.jsonl")} == {t}
        assert {r.split for r in records(d / "eval.jsonl")} == {"test", "ood"}
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text()) for t in range(len(methods) + 1)
    ]
    last = json.loads(lines[-1])
    assert last["iteration"] == len(methods) and "improvement" in last and last["data"]["method"] == methods[-1]


def weights(path: Path) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def changed(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return any(not wa[k].equal(wb[k]) for k in wa)


def test_sft_two_iterations(improve_model: Path, tmp_path: Path) -> None:
    run = start_run(tmp_path, run_config(improve_model, tmp_path / "runs", "sft", strategy="sft", max_per_problem=2))
    check_layout(run, ["sft", "sft"])
    task = get_task("arith", sizes=SIZES)
    for t in (1, 2):
        d = run / f"iter_{t:03d}"
        samples = records(d / "samples.jsonl")
        assert len(samples) == 12 and all(len(r.samples) == 8 and r.greedy is None for r in samples)
        assert all(c.correct is not None for r in samples for c in r.samples)
        train = rows(d / "train_sft.jsonl")
        assert train == sft_rows(samples, 2, dedupe=True) and train  # curation is exactly the pure function
        gold = {r.problem_id: r.gold for r in samples}
        assert all(task.verify(task.extract(row["completion"]), gold[row["problem_id"]]) for row in train)
        assert max(sum(row["problem_id"] == p for row in train) for p in gold) <= 2
    assert changed(improve_model, run / "iter_001" / "model")
    assert changed(run / "iter_001" / "model", run / "iter_002" / "model")


@pytest.mark.slow
def test_dpo_two_iterations(improve_model: Path, tmp_path: Path) -> None:
    config = run_config(improve_model, tmp_path / "runs", "dpo", strategy="dpo", pairs_per_problem=2,
                        require_valid_steps=True)
    run = start_run(tmp_path, config)
    check_layout(run, ["dpo", "dpo"])
    for t in (1, 2):
        samples = {r.problem_id: r for r in records(run / f"iter_{t:03d}" / "samples.jsonl")}
        pairs = rows(run / f"iter_{t:03d}" / "train_dpo.jsonl")
        assert pairs
        for pair in pairs:
            by_text = {c.text: c for c in samples[pair["problem_id"]].samples}
            assert by_text[pair["chosen"]].correct is True and by_text[pair["rejected"]].correct is False
            assert by_text[pair["chosen"]].steps_ok is not False  # require_valid_steps: no lucky chosen answer
            assert pair["prompt"] == samples[pair["problem_id"]].prompt
        assert max(sum(p["problem_id"] == q for p in pairs) for q in samples) <= 2
        data = json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())["data"]
        assert data["train_rows_wrong_step"] in (0.0, None) and "improve_false_positive_rate" in data
    assert changed(improve_model, run / "iter_001" / "model")


@pytest.mark.slow
def test_star_two_iterations_rationalizes_without_hint(improve_model: Path, tmp_path: Path) -> None:
    config = run_config(improve_model, tmp_path / "runs", "star", strategy="star", restart_from_base=True,
                        rationalize_samples=8)
    run = start_run(tmp_path, config)
    check_layout(run, ["sft", "sft"])
    d = run / "iter_001"
    unsolved = [r for r in records(d / "samples.jsonl") if not any(c.correct for c in r.samples)]
    rationales = records(d / "rationales.jsonl")
    assert [r.problem_id for r in rationales] == [r.problem_id for r in unsolved] and rationales
    for r in rationales:
        assert r.prompt != r.metadata["unhinted_prompt"] and STAR_HINT.format(gold=r.gold) in r.prompt
    train = rows(d / "train_sft.jsonl")
    from_rationales = [row for row in train if row["source"] == "rationale"]
    assert from_rationales, "the fixture model solves problems 8-11 when hinted; some rationale must be kept"
    unhinted = {r.problem_id: r.metadata["unhinted_prompt"] for r in rationales}
    assert all(row["prompt"] == unhinted[row["problem_id"]] and "The answer is" not in row["prompt"]
               for row in from_rationales)


@pytest.mark.slow
def test_gold_control_trains_on_reference_solutions(improve_model: Path, tmp_path: Path) -> None:
    run = start_run(tmp_path, run_config(improve_model, tmp_path / "runs", "gold", strategy="gold"))
    check_layout(run, ["sft", "sft"])
    problems = get_task("arith", sizes=SIZES).load("improve")
    for t in (1, 2):
        train = rows(run / f"iter_{t:03d}" / "train_sft.jsonl")
        # every improve problem once, with its reference solution, whatever the model sampled
        assert [(r["problem_id"], r["completion"], r["source"]) for r in train] == [
            (p.id, " " + p.metadata["solution"], "reference") for p in problems]
        data = json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())["data"]
        assert data["train_rows"] == 12 and data["train_rows_by_source"] == {"reference": 12}
    assert changed(run / "iter_001" / "model", run / "iter_002" / "model")


@pytest.mark.slow
def test_sft_dpo_schedule_with_mixing(improve_model: Path, tmp_path: Path) -> None:
    config = run_config(improve_model, tmp_path / "runs", "sft-dpo", strategy="sft-dpo", schedule=["sft", "dpo"],
                        keep_original=0.25, mixing="accumulate")
    run = start_run(tmp_path, config)
    check_layout(run, ["sft", "dpo"])
    sft = rows(run / "iter_001" / "train_sft.jsonl")
    assert sum(row["source"] == "seed" for row in sft) == 10  # 0.25 of the 40 seed problems
    assert {row["source"] for row in rows(run / "iter_002" / "train_dpo.jsonl")} == {"sample"}


@pytest.mark.slow
def test_sft_restart_from_base_accumulates(improve_model: Path, tmp_path: Path) -> None:
    config = run_config(improve_model, tmp_path / "runs", "rest-em", strategy="sft", restart_from_base=True,
                        mixing="accumulate", max_per_problem=10)
    run = start_run(tmp_path, config)
    first, second = rows(run / "iter_001" / "train_sft.jsonl"), rows(run / "iter_002" / "train_sft.jsonl")
    key = lambda row: (row["prompt"], row["completion"])  # noqa: E731
    assert {key(r) for r in first} < {key(r) for r in second}  # iteration 2 trains on both iterations' data
    assert len({key(r) for r in second}) == len(second)  # no exact duplicate across iterations


def test_run_refuses_bad_config_cleanly(tmp_path: Path, micro_model: Path) -> None:
    result = selfimprove("run", f"model.path={micro_model}", "loop.strategy=stra", f"out={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "loop.strategy" in result.stderr
    result = selfimprove("run", f"model.path={micro_model}", "loop.strategy=dpo", "loop.keep_original=0.2",
                         f"out={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2 and "keep_original" in result.stderr


@pytest.mark.slow
def test_demo_command_with_an_existing_model_and_small_sizes(improve_model: Path, tmp_path: Path) -> None:
    """`selfimprove demo` skips pretraining when the model exists, runs 3 SFT iterations on test and ood, and
    says where the report is; a second call resumes the finished run instead of redoing it."""
    args = ["demo", f"model.path={improve_model}", f"task.options={{sizes: {SIZES}}}", "eval.limit=3", "eval.k=2",
            "eval.semantic=false", "loop.improve_limit=12", "sampling.max_new_tokens=48", "train.max_steps=2"]
    first = selfimprove(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "pretraining" not in first.stdout and "iteration 3 (sft" in first.stdout
    assert "runs/demo" in first.stdout and ("report:" in first.stdout or "records and metrics:" in first.stdout)
    check_layout(tmp_path / "runs" / "demo", ["sft", "sft", "sft"])
    again = selfimprove(*args, cwd=tmp_path)
    assert again.returncode == 0 and "resuming after iteration 3" in again.stdout
    assert "done in" not in again.stderr  # every stage was already marked done


def test_demo_config_overrides_and_errors() -> None:
    from selfimprove.commands.demo import demo_config
    from selfimprove.errors import UserError

    cfg = demo_config(overrides=["loop.iterations=1", "eval.limit=5"])
    assert cfg.loop.iterations == 1 and cfg.eval.limit == 5 and cfg.loop.strategy == "sft"
    assert demo_config().loop.iterations == 3  # the built-in settings are not mutated by overrides
    with pytest.raises(UserError, match="loop.iteratons"):
        demo_config(overrides=["loop.iteratons=1"])
