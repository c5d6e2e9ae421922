"""The shipped tiny seed model (selfimprove.tiny.seed): it is what configs/tiny-pretrain.yaml builds, it is as
good as the README says, the demo installs it, and (opt-in, minutes of CPU) a rebuild reaches the same quality."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from selfimprove.tiny.seed import SHIPPED, install_shipped

REPO = Path(__file__).resolve().parents[1]
LIMIT = 100


def _pass1(path: Path) -> float:
    from selfimprove.evaluate_skills import right_answers, texts_of
    from selfimprove.sampling import make_sampler
    from selfimprove.sections import ModelSection
    from selfimprove.tasks.arith import ArithTask
    from selfimprove.types import SamplingParams

    task = ArithTask()
    problems = task.load("test", LIMIT)
    sampler = make_sampler(ModelSection(path=str(path), device="cpu", dtype="float32"), batch_size=LIMIT)
    texts = texts_of(sampler, [str(p.prompt) for p in problems], SamplingParams(max_new_tokens=96))
    return sum(right_answers(task, texts, [int(p.gold) for p in problems])) / LIMIT


def test_shipped_checkpoint_is_the_config_output() -> None:
    from selfimprove.config import load_config
    from selfimprove.tiny.pretrain import PretrainConfig

    recorded = load_config(PretrainConfig, SHIPPED / "pretrain.yaml")
    assert recorded == load_config(PretrainConfig, REPO / "configs" / "tiny-pretrain.yaml")
    assert (SHIPPED / "model.safetensors").stat().st_size < 8_000_000


@pytest.mark.slow
def test_shipped_model_solves_as_documented(tmp_path: Path) -> None:
    """Greedy pass@1 on the first 100 test problems within 3 points of the value recorded at shipping."""
    out = install_shipped(tmp_path / "tiny-arith")
    assert (out / "config.json").is_file()
    recorded = json.loads((SHIPPED / "quality.json").read_text())
    assert abs(_pass1(out) - recorded["test_pass@1_first_100"]) <= 0.03


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SELFIMPROVE_REBUILD_SEED") != "1",
                    reason="rebuilding the seed model takes minutes of CPU; set SELFIMPROVE_REBUILD_SEED=1")
def test_rebuilt_seed_model_is_as_good_as_the_shipped_one(tmp_path: Path) -> None:
    from selfimprove.config import load_config
    from selfimprove.tiny.pretrain import PretrainConfig, pretrain

    cfg = load_config(PretrainConfig, REPO / "configs" / "tiny-pretrain.yaml", [f"out={tmp_path / 'rebuilt'}"])
    rebuilt, _ = pretrain(cfg)
    assert abs(_pass1(rebuilt) - _pass1(SHIPPED)) <= 0.05


def _short_pretrain(out: Path, env_threads: int, pinned: int) -> bytes:
    """Six steps of the seed model's own pretraining (its corpus cut to a 64-problem seed split) with torch
    set to `env_threads` threads beforehand, as OMP_NUM_THREADS would; returns the saved weights."""
    import torch

    from selfimprove.config import load_config
    from selfimprove.tiny.pretrain import PretrainConfig, pretrain

    before = torch.get_num_threads()
    torch.set_num_threads(env_threads)
    try:
        cfg = load_config(PretrainConfig, REPO / "configs" / "tiny-pretrain.yaml",
                          [f"out={out}", f"threads={pinned}", "train.max_steps=6", "task.options.sizes.seed=64"])
        trained, _ = pretrain(cfg)
        assert torch.get_num_threads() == env_threads  # the pin is undone afterwards
    finally:
        torch.set_num_threads(before)
    return (trained / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_pinned_threads_give_the_same_seed_model_whatever_the_environment_says(tmp_path: Path) -> None:
    """threads=1 (the default): the same weights under 1 and 2 environment threads. The control, threads=0
    (torch's default) under 2 threads, differs: without the pin the thread count changes the model."""
    pinned_one = _short_pretrain(tmp_path / "a", env_threads=1, pinned=1)
    pinned_two = _short_pretrain(tmp_path / "b", env_threads=2, pinned=1)
    unpinned_two = _short_pretrain(tmp_path / "c", env_threads=2, pinned=0)
    assert pinned_one == pinned_two
    assert unpinned_two != pinned_one


def test_demo_copies_the_shipped_model_when_none_is_there(tmp_path: Path) -> None:
    from selfimprove.commands.demo import ensure_seed_model

    target = tmp_path / "runs" / "tiny-arith"
    ensure_seed_model(str(target))
    assert (target / "model.safetensors").read_bytes() == (SHIPPED / "model.safetensors").read_bytes()
    assert not list((tmp_path / "runs").glob(".*"))  # no scratch folder left
    (target / "marker").write_text("kept")
    ensure_seed_model(str(target))  # an existing checkpoint is left as it is
    assert (target / "marker").read_text() == "kept"
