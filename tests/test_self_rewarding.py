"""The self-rewarding recipe through the real CLI: bad input refused with one line and exit code 2, and a
micro end-to-end run (2 iterations, a handful of prompts) with a micro model that has seen judge and pose
rows, through the real sampler, judge, grader and TRL's DPO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selfimprove.jsonl import read_jsonl
from selfimprove.types import Record

from conftest import selfimprove, write_config
from test_cli_inputs import assert_refused

SIZES = {"seed": 40, "test": 6, "ood": 4}


def config(model: Path, out: Path, name: str = "sr", **section: Any) -> dict[str, Any]:
    return {
        "recipe": "self-rewarding",
        "name": name,
        "out": str(out),
        "seed": 1,
        "task": {"name": "arith", "options": {"sizes": dict(SIZES)}},
        "model": {"path": str(model)},
        "sampling": {"n": 4, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 40},
        "eval": {"k": 2, "semantic": False},
        "train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "logging_steps": 1},
        "self_rewarding": {"iterations": 2,
                           "prompts": {"count": 6, "shots": 3, "max_new_tokens": 40},
                           "judge": {"template": "arith", "repeats": 2, "max_new_tokens": 32}, **section},
    }


@pytest.mark.parametrize(("change", "words"), [
    ({"prompts": {"split": "nosuch"}}, ["seed prompts", "nosuch"]),
    ({"judge": {"template": "Rate this answer: {prompt}"}}, ["{response}", "placeholder"]),
    ({"judge": {"template": "additive", "repeats": 0}}, ["repeats"]),
])
def test_bad_input_is_refused(micro_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              change: dict[str, Any], words: list[str]) -> None:
    path = write_config(tmp_path, config(micro_model, tmp_path / "runs", **change))
    assert_refused(capsys, ["run", str(path)], *words)
    assert not (tmp_path / "runs" / "sr").exists()


def test_no_seed_prompts_is_refused(micro_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(micro_model, tmp_path / "runs")
    cfg["task"]["options"]["sizes"]["seed"] = 0
    assert_refused(capsys, ["run", str(write_config(tmp_path, cfg))], "seed prompts")


def test_truth_on_a_task_without_ground_truth_is_refused(micro_model: Path, tmp_path: Path, shared_data: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Self-instructed GSM8K questions have no gold answer; WikiText-2 has none at all."""
    gsm = config(micro_model, tmp_path / "runs", judge={"template": "additive"}, prompts={"split": "train"})
    gsm["task"] = {"name": "gsm8k", "options": {"data_dir": str(shared_data), "hub": False}}
    gsm["eval"]["splits"] = ["test"]
    assert_refused(capsys, ["run", str(write_config(tmp_path, gsm))], "prompts.source=split", "truth")
    wiki = config(micro_model, tmp_path / "runs", judge={"template": "additive"},
                  prompts={"source": "split", "split": "valid"})
    wiki["task"] = {"name": "wikitext2", "options": {"data_dir": str(shared_data), "hub": False}}
    wiki["eval"]["splits"] = ["test"]
    assert_refused(capsys, ["run", str(write_config(tmp_path, wiki))], "gold answers", "truth=false")


@pytest.fixture(scope="module")
def judging_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama trained 60 steps on the world's solve and judge rows: enough to write `Score: N` most of
    the time (about 55 of 64 judgments parsed when measured), so pairs form and DPO runs."""
    from selfimprove.tasks import arith_world as world
    from selfimprove.tasks.arith import prompt_of
    from selfimprove.tasks.arith_skills import skill_rows
    from selfimprove.tiny.model import TinyModelSection, build_model
    from selfimprove.tiny.tokenizer import build_tokenizer
    from selfimprove.train.common import save_model
    from selfimprove.train.config import TrainSection
    from selfimprove.train.sft import train_sft

    out = tmp_path_factory.mktemp("judging_model")
    problems = world.split_problems("seed", 200, 0)
    rows = [{"prompt": prompt_of(p.question()), "completion": f" {p.solution()}"} for p in problems[:64]]
    rows += skill_rows("judge", problems, 128, 0)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, TinyModelSection(hidden_size=64, layers=1, heads=2, intermediate_size=128))
    cfg = TrainSection(max_steps=60, batch_size=16, learning_rate=1e-2, logging_steps=20)
    save_model(train_sft(model, tokenizer, rows, cfg, out / "_trainer"), tokenizer, out)
    return out


@pytest.mark.slow
def test_two_iterations_end_to_end(judging_model: Path, tmp_path: Path) -> None:
    """Prompts from the seed split here (a micro model cannot pose parseable questions; self-instruct's parsing
    is tested on its own below, and the embedded run shows it with the seed model)."""
    cfg = config(judging_model, tmp_path / "runs", prompts={"source": "split", "count": 6})
    result = selfimprove("run", str(write_config(tmp_path, cfg)), cwd=tmp_path, env={"COLUMNS": "300"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "self-rewarding: the judge against ground truth" in result.stdout
    assert "Self-reward" in result.stdout and "true accuracy" in result.stdout
    run = tmp_path / "runs" / "sr"
    for t in (1, 2):
        d = run / f"iter_{t:03d}"
        records = [Record.from_dict(r) for r in read_jsonl(d / "samples.jsonl")]
        assert len(records) == json.loads((d / "prompts.json").read_text())["kept"] == 6
        for r in records:  # every kept prompt has the world's answer, every candidate a grade and J judgments
            assert r.gold and r.metadata["difficulty"] >= 1 and len(r.samples) == 4
            assert all(c.correct is not None and len(c.judgments) == 2 for c in r.samples)
        m = json.loads((d / "metrics.json").read_text())["self_rewarding"]
        assert m["judge"]["judgments"] == 8 * len(records) and m["judge"]["unparsed_share"] < 1
        pairs = list(read_jsonl(d / "train_dpo.jsonl"))
        assert m["pairs"]["pairs"] == len(pairs) == m["pairs"]["paired"]
        assert pairs and all(p["chosen_score"] > p["rejected_score"] for p in pairs)
        assert (d / "model" / "config.json").is_file()
    assert "Self-rewarding" in (run / "report.html").read_text()


def test_self_instruct_keeps_parseable_new_questions() -> None:
    """What the seed model writes after the pose prompt: a new question, a seed question again, a repeat,
    a question the world cannot parse (wrong pronoun), and noise."""
    from selfimprove.recipes.self_instruct import keep, pose_prompts, seed_questions
    from selfimprove.tasks import get_task

    seeds = get_task("arith", sizes={"seed": 4}).load("seed")
    texts = [" Ann has 3 apples. She gets 2 more. How many apples does Ann have now?\nQ: Ben",
             f" {seeds[0].metadata['question']}",
             " Ann has 3 apples. She gets 2 more. How many apples does Ann have now?",
             " Ben has 4 pens. She loses 1. How many pens does Ben have now?",
             " 14+3= has. How"]
    posed = keep(texts, seeds, earlier=[], t=1, arith=True)
    assert posed.generated == 5 and dict(posed.rejected) == {"duplicate": 2, "unparseable": 2}
    (problem,) = posed.problems
    assert problem.gold == "5" and problem.metadata["difficulty"] == 1
    assert problem.prompt == "Q: Ann has 3 apples. She gets 2 more. How many apples does Ann have now?\nA:"
    again = keep(texts[:1], seeds, earlier=[problem.metadata["question"]], t=2, arith=True)
    assert dict(again.rejected) == {"duplicate": 1}  # an earlier iteration's prompt is not new
    few_shot = pose_prompts(seed_questions(seeds), count=2, shots=3, seed=0, arith=True)
    assert len(few_shot) == 2 and few_shot[0].count("\nQ: ") == 3 and few_shot[0].endswith("\nQ:")


def test_one_judged_iteration_is_a_level_not_a_change() -> None:
    """A run where only one iteration formed pairs (the others wrote no valid prompt) states the level."""
    from selfimprove.report.self_rewarding import reward_vs_truth
    from selfimprove.verdict import VerdictConfig

    history = [{"iteration": 0}, {"iteration": 1, "self_rewarding": {"judge": {"self_reward": 3.62, "judgments": 6}}},
               {"iteration": 2}]
    sentence = reward_vs_truth(history, VerdictConfig())
    assert sentence.startswith("Self-reward was 3.62 of 5, measured at iteration 1 only")
