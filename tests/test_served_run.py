"""A 2-iteration run that samples and evaluates every checkpoint through a real `transformers serve` the run
starts itself (model.serve.command), while training uses the local weights; killed mid-stage it leaves no
server behind and the resumed run starts a fresh one. What the server gave agrees with the local sampler on the
same starting model: the same greedy answers, sampled accuracy within sampling noise."""

from __future__ import annotations

import math
import re
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from selfimprove.evaluate import EvalSection, evaluate_split
from selfimprove.jsonl import read_jsonl
from selfimprove.sampling.hf import HFSampler, load_model
from selfimprove.sections import SamplingSection
from selfimprove.tasks import get_task

from conftest import selfimprove, write_config
from test_openai_backend import SAMPLE_ON

SERVE = (f"{sys.executable} -m transformers.cli.transformers serve {{model}} --host 127.0.0.1 --port {{port}} "
         "--device cpu --dtype float32")
SIZES = {"improve": 12, "test": 6, "ood": 4, "seed": 40}
HEADER = re.compile(r"^== .* serving (\S+) on port (\d+): ", re.M)


def config(model: Path, out: Path, name: str, served: bool) -> dict:
    model_section: dict = {"path": str(model)}
    if served:
        model_section |= {"serve": {"command": SERVE, "startup_timeout_s": 300},
                          "server": {"extra_body": SAMPLE_ON, "concurrency": 4}}
    return {
        "name": name, "out": str(out), "seed": 1,
        "task": {"name": "arith", "options": {"sizes": SIZES}},
        "model": model_section,
        "sampling": {"n": 4, "max_new_tokens": 32},
        "eval": {"k": 0, "semantic": False},  # greedy evaluation only: fewer requests, the same path
        "train": {"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1},
        "loop": {"iterations": 2},
    }


def port_closed(port: int, seconds: float = 15.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.2)
    return False


def sampled_accuracy(path: Path) -> tuple[int, int]:
    grades = [bool(c["correct"]) for r in read_jsonl(path) for c in r["samples"]]
    return sum(grades), len(grades)


@pytest.mark.slow
def test_served_run_resumes_and_matches_the_local_sampler(improve_model, tmp_path):
    served = config(improve_model, tmp_path / "runs", "served", served=True)
    path = write_config(tmp_path, served)
    killed = selfimprove("run", str(path), cwd=tmp_path, env={"SELFIMPROVE_TEST_KILL_AT": "1:sample:written"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    run = tmp_path / "runs" / "served"
    assert not (run / "iter_001" / ".done-sample").exists()
    [(checkpoint, port)] = HEADER.findall((run / "serve.log").read_text())
    assert checkpoint == str(improve_model)
    assert port_closed(int(port)), "the server outlived the run that started it"

    resumed = selfimprove("run", str(path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = (run / "serve.log").read_text()
    starts = HEADER.findall(log)
    # Before the kill: M_0 (eval 0, sample 1). Resumed: M_0 again (sample 1), M_1 (eval 1, sample 2), M_2 (eval 2).
    assert [c for c, _ in starts] == [str(improve_model), str(improve_model), str(run / "iter_001" / "model"),
                                      str(run / "iter_002" / "model")]
    requests = [part.count('"POST /v1/completions') for part in HEADER.split(log)[3::3]]
    assert all(r > 0 for r in requests), requests
    assert all(port_closed(int(p), 5) for _, p in starts)
    print(f"server requests per start: {requests}")

    # The local sampler on the same starting model: the same greedy answers; samples of the improve problems
    # (different draws) as often correct up to sampling noise (two-proportion z-test, |z| < 3).
    task = get_task("arith", sizes=SIZES)
    model, tokenizer = load_model(str(improve_model), "float32", "cpu")
    local = HFSampler(model, tokenizer, show_progress=False)
    sampling = SamplingSection(**served["sampling"])
    greedy = evaluate_split(local, task, "test", sampling, EvalSection(k=0), 0)
    assert [r.greedy.text for r in greedy] == [
        r["greedy"]["text"] for r in read_jsonl(run / "iter_000" / "eval.jsonl") if r["split"] == "test"]
    sampled = evaluate_split(local, task, "improve", sampling, EvalSection(k=sampling.n), 0)
    b, m = sum(bool(c.correct) for r in sampled for c in r.samples), sum(len(r.samples) for r in sampled)
    a, n = sampled_accuracy(run / "iter_001" / "samples.jsonl")
    pooled = (a + b) / (n + m)
    print(f"M_0 sampled accuracy on the improve problems: served {a}/{n}, local {b}/{m}")
    assert 0 < pooled < 1, "the comparison needs correct and incorrect samples"
    assert abs(a / n - b / m) <= 3 * math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))


@pytest.mark.slow
def test_eval_serves_the_model_it_evaluates(improve_model, tmp_path):
    """`selfimprove eval` with model.serve.command samples through a server it starts on the evaluated model:
    every problem is one request in the server's log, the greedy answers are the local sampler's, and the
    server is gone when eval is."""
    config = {"task": {"name": "arith", "options": {"sizes": SIZES}},
              "model": {"path": str(improve_model), "serve": {"command": SERVE, "startup_timeout_s": 300}},
              "sampling": {"max_new_tokens": 32}, "eval": {"splits": ["test"], "k": 0, "semantic": False}}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(config))
    done = selfimprove("eval", str(tmp_path / "eval.yaml"), "--out", str(tmp_path / "eval"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "eval" / "serve.log").read_text()
    [(checkpoint, port)] = HEADER.findall(log)
    assert checkpoint == str(improve_model)
    assert log.count('"POST /v1/completions') == SIZES["test"]
    assert port_closed(int(port), 5), "the server outlived eval"

    model, tokenizer = load_model(str(improve_model), "float32", "cpu")
    local = evaluate_split(HFSampler(model, tokenizer, show_progress=False), get_task("arith", sizes=SIZES), "test",
                           SamplingSection(max_new_tokens=32), EvalSection(k=0), 0)
    assert [r.greedy.text for r in local] == [r["greedy"]["text"] for r in read_jsonl(tmp_path / "eval" / "eval.jsonl")]
