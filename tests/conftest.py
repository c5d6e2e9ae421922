"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def selfimprove(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess; one thread so that runs are reproducible and the machine stays shared."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "selfimprove.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=600)


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    """`config` as <folder>/<name>.yaml, for `selfimprove run`."""
    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files: $SELFIMPROVE_DATA_DIR, else ../shared/data beside the repository."""
    root = Path(os.environ.get("SELFIMPROVE_DATA_DIR", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"real benchmark data not found at {root} (set SELFIMPROVE_DATA_DIR)")
    return root


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real HF checkpoint of a micro Llama with the arith tokenizer, trained for a few SFT steps on the
    arith seed split (so it has seen the answer format). Built once per test session."""
    from selfimprove.tasks import get_task
    from selfimprove.tiny.model import TinyModelSection, build_model
    from selfimprove.tiny.tokenizer import build_tokenizer
    from selfimprove.train.common import save_model
    from selfimprove.train.config import TrainSection
    from selfimprove.train.sft import train_sft

    out = tmp_path_factory.mktemp("micro_model")
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, TinyModelSection(hidden_size=32, layers=1, heads=2, intermediate_size=64))
    task = get_task("arith", sizes={"seed": 64})
    rows = [{"prompt": p.prompt, "completion": " " + p.metadata["solution"]} for p in task.load("seed")]
    cfg = TrainSection(max_steps=8, batch_size=16, learning_rate=3e-3, logging_steps=4)
    trained = train_sft(model, tokenizer, rows, cfg, out / "_trainer")
    save_model(trained, tokenizer, out)
    return out


MICRO_RUN_SIZES = {"seed": 64, "improve": 8, "test": 12, "ood": 6}


def _micro_run_stage(iter_dir: Path, stage: str) -> None:
    from selfimprove.jsonl import write_atomic

    write_atomic(iter_dir / f".done-{stage}", "")


def _micro_run_eval(run: Path, t: int, model, tokenizer, task, cache, reference: list) -> list:  # noqa: ANN001
    """Evaluate one iteration's model on test and ood (greedy + 4 samples) into iter_<t>/eval.jsonl and
    metrics.json, with the improvement set against `reference` (iteration 1's records) from t = 2 on."""
    import json

    from selfimprove.evaluate import EvalSection, evaluate_split
    from selfimprove.jsonl import write_atomic, write_jsonl
    from selfimprove.metrics import improvement_set
    from selfimprove.metrics.summary import summarize_splits
    from selfimprove.sampling.hf import HFSampler
    from selfimprove.sections import SamplingSection

    iter_dir = run / f"iter_{t:03d}"
    sampler = HFSampler(model.eval(), tokenizer, batch_size=64, show_progress=False)
    sampling, ev = SamplingSection(max_new_tokens=40), EvalSection(k=4)
    records = [r for s in ("test", "ood") for r in evaluate_split(sampler, task, s, sampling, ev, 0, iteration=t)]
    write_jsonl(iter_dir / "eval.jsonl", (r.to_dict() for r in records))
    metrics = {"iteration": t, **summarize_splits(records, cache)}
    if t >= 2:
        metrics["improvement"] = improvement_set(records, reference)
    write_atomic(iter_dir / "metrics.json", json.dumps(metrics, indent=1))
    _micro_run_stage(iter_dir, "eval")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(metrics) + "\n")
    return records


def _micro_run_improve(run: Path, t: int, model, tokenizer, task, train_cfg):  # noqa: ANN001, ANN202
    """One SFT iteration as the loop does it: sample the improve split, keep seed rows plus the correct
    samples, fine-tune a few steps, save iter_<t>/model."""
    from selfimprove.evaluate import EvalSection, evaluate_split
    from selfimprove.jsonl import write_jsonl
    from selfimprove.sampling.hf import HFSampler
    from selfimprove.sections import SamplingSection
    from selfimprove.train.common import save_model
    from selfimprove.train.sft import train_sft

    iter_dir = run / f"iter_{t:03d}"
    sampler = HFSampler(model.eval(), tokenizer, batch_size=64, show_progress=False)
    samples = evaluate_split(sampler, task, "improve", SamplingSection(max_new_tokens=40), EvalSection(k=4), 0, t)
    write_jsonl(iter_dir / "samples.jsonl", (r.to_dict() for r in samples))
    _micro_run_stage(iter_dir, "sample")
    rows = [{"prompt": p.prompt, "completion": " " + p.metadata["solution"]} for p in task.load("seed")]
    rows += [{"prompt": r.prompt, "completion": c.text} for r in samples for c in r.samples if c.correct]
    write_jsonl(iter_dir / "train_sft.jsonl", rows)
    _micro_run_stage(iter_dir, "curate")
    trained = train_sft(model.train(), tokenizer, rows, train_cfg, iter_dir / "_trainer")
    save_model(trained, tokenizer, iter_dir / "model")
    _micro_run_stage(iter_dir, "train")
    return trained


@pytest.fixture(scope="session")
def micro_run_dir(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Path:
    """A real 2-iteration iterative-SFT run directory in the layout of DESIGN.md (config.yaml, iter_000..002
    with eval.jsonl and metrics.json, samples.jsonl, train_sft.jsonl, model/, .done-* markers, metrics.jsonl,
    embeddings/), built from the micro model with the real sampler, verifier, metrics and SFT trainer."""
    import yaml

    from selfimprove.metrics import EmbeddingCache
    from selfimprove.sampling.hf import load_model
    from selfimprove.sections import SamplingSection, TaskSection
    from selfimprove.suites.config import EvalSuitesSection
    from selfimprove.tasks import get_task
    from selfimprove.train.config import TrainSection
    from selfimprove.verdict import VerdictConfig

    run = tmp_path_factory.mktemp("runs") / "micro-sft"
    run.mkdir()
    train_cfg = TrainSection(max_steps=4, batch_size=16, learning_rate=3e-3, logging_steps=4)
    config = {
        "task": TaskSection(name="arith", options={"sizes": MICRO_RUN_SIZES}).model_dump(mode="json"),
        "model": {"path": str(micro_model), "dtype": "float32", "device": "cpu"},
        "sampling": SamplingSection(max_new_tokens=40).model_dump(mode="json"),
        "eval": EvalSuitesSection(k=4).model_dump(mode="json"),
        "train": train_cfg.model_dump(mode="json"),
        "loop": {"strategy": "sft", "iterations": 2},
        "verdict": VerdictConfig(min_pass1_gain=0.02).model_dump(mode="json"),
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    task = get_task("arith", sizes=MICRO_RUN_SIZES)
    cache = EmbeddingCache(run / "embeddings")
    model, tokenizer = load_model(str(micro_model), "float32", "cpu")
    reference: list = []
    _micro_run_eval(run, 0, model, tokenizer, task, cache, reference)
    for t in (1, 2):
        model = _micro_run_improve(run, t, model, tokenizer, task, train_cfg)
        records = _micro_run_eval(run, t, model, tokenizer, task, cache, reference)
        reference = reference or records
    return run


STAR_HINT = " The answer is {gold}."


@pytest.fixture(scope="session")
def improve_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama checkpoint that gives the loop something to work with on the first 12 arith `improve`
    problems: it was fitted (80 steps) to the reference solutions of problems 0-7 as asked, and of problems
    8-11 only when the gold answer is in the prompt as a STaR hint (STAR_HINT). Sampling it at temperature
    0.75 gives correct and incorrect samples on 0-7 (SFT rows, DPO pairs) and mostly unsolved 8-11 that a
    hinted prompt solves (STaR rationalization)."""
    import torch

    from selfimprove.curate import with_hint
    from selfimprove.tasks import get_task
    from selfimprove.tiny.model import TinyModelSection, build_model
    from selfimprove.tiny.tokenizer import build_tokenizer
    from selfimprove.train.common import save_model
    from selfimprove.train.config import TrainSection
    from selfimprove.train.sft import train_sft

    out = tmp_path_factory.mktemp("improve_model")
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, TinyModelSection(hidden_size=32, layers=1, heads=2, intermediate_size=64))
    problems = get_task("arith").load("improve", 12)
    rows = [{"prompt": p.prompt if i < 8 else with_hint(p.prompt, STAR_HINT.format(gold=p.gold)),
             "completion": " " + p.metadata["solution"]} for i, p in enumerate(problems)]
    cfg = TrainSection(max_steps=80, batch_size=16, learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant",
                       logging_steps=40)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # measured: 16 s instead of 62 s on a loaded 2-core machine
    try:
        trained = train_sft(model, tokenizer, rows * 4, cfg, out / "_trainer")
    finally:
        torch.set_num_threads(threads)
    save_model(trained, tokenizer, out)
    return out


MEMORIZED_VOCAB = 48  # token ids of the `memorized` fixture's sequences are in [3, 48)


@pytest.fixture(scope="session")
def memorized() -> Iterator[tuple[Any, Any]]:
    """A 2-layer Llama (width 64) trained with AdamW until it has memorized 4 random sequences."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: extra threads only contend on a shared CPU
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=MEMORIZED_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
    )
    model = LlamaForCausalLM(config)
    data = torch.randint(3, MEMORIZED_VOCAB, (4, 32), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        model(input_ids=data, labels=data).loss.backward()
        opt.step()
        opt.zero_grad()
    yield model, data
    torch.set_num_threads(threads)
