"""Recipe `score`, strategy `grpo` and the correction suite end to end: the real CLI, real TRL and a micro model trained for a step
or two inside the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import selfimprove, write_config

SMALL = {"task": {"name": "arith", "options": {"sizes": {"improve": 4, "test": 3}}},
         "sampling": {"n": 2, "max_new_tokens": 8, "batch_size": 8},
         "eval": {"splits": ["test"], "k": 0, "semantic": False}}


@pytest.mark.slow
def test_score_recipe_runs_every_arm(micro_model: Path, tmp_path: Path) -> None:
    config = {**SMALL, "recipe": "score", "name": "score", "out": str(tmp_path / "runs"),
              "model": {"path": str(micro_model)}, "train": {"max_steps": 1, "batch_size": 2},
              "score": {"stage1_steps": 1, "stage2_steps": 2, "rl_steps": 1, "traces_per_problem": 2,
                        "trainer": {"prompts_per_step": 2, "max_new_tokens": 8}}}
    done = selfimprove("run", str(write_config(tmp_path, config)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "score"
    table = json.loads((run / "score.json").read_text())["test"]
    assert [row["arm"] for row in table] == ["base", "self-refine", "single-turn-rl", "star", "pair-sft",
                                             "score-stage1", "score"]
    for row in table:
        assert row["n"] == 3 and row["delta"] == pytest.approx(row["delta_i2c"] - row["delta_c2i"])
    steps = [json.loads(line) for line in (run / "iter_006" / "train_steps.jsonl").read_text().splitlines()]
    assert [s["stage"] for s in steps] == ["II", "II"]
    assert {"reward_1", "reward_2", "delta", "kl_1", "kl_2", "entropy_1", "entropy_2"} <= steps[0].keys()
    assert (run / "iter_006" / "model" / "config.json").is_file()
    episode = json.loads((run / "iter_001" / "eval.jsonl").read_text().splitlines()[0])
    assert len(episode["greedy"]["attempts"]) == 2 and "feedback" in episode["metadata"]  # self-refine


@pytest.mark.slow
def test_grpo_strategy_trains_and_logs_entropy(micro_model: Path, tmp_path: Path) -> None:
    config = {**SMALL, "name": "grpo", "out": str(tmp_path / "runs"), "model": {"path": str(micro_model)},
              "eval": {**SMALL["eval"], "correction": {"enabled": True}},
              "loop": {"strategy": "grpo", "iterations": 1},
              "train": {"max_steps": 2, "logging_steps": 1,
                        "grpo": {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 8}}}
    done = selfimprove("run", str(write_config(tmp_path, config)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    it = tmp_path / "runs" / "grpo" / "iter_001"
    rows = [json.loads(line) for line in (it / "train_grpo.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"prompt", "gold", "task"} <= rows[0].keys()
    steps = [json.loads(line) for line in (it / "train_steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2] and all(s["entropy"] > 0 for s in steps)
    assert (it / "model" / "config.json").is_file()
    correction = json.loads((it / "metrics.json").read_text())["correction"]["test"]  # the suite, in a run
    assert correction["n"] == 3 and len((it / "correction.jsonl").read_text().splitlines()) == 3
