"""The served sampler against a real `transformers serve` process holding the micro model (no mock servers):
the real CLI evaluates GSM8K problems through it, greedy answers equal the local sampler's, `n` is topped up
where the server ignores it, and failures become one clear error. Pure helpers are tested on their own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from transformers import AutoTokenizer

from servers import hang, serving

from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.sampling.hf import HFSampler, load_model
from selfimprove.sampling.openai_backend import (
    OpenAISampler,
    explain_error,
    resolve_api_key,
    resolve_base_url,
    to_completions,
)
from selfimprove.sections import ServerSection
from selfimprove.types import SamplingParams

SECRET = "sk-test-this-key-must-never-be-written-anywhere"
# transformers serve samples only when the model's generation config says do_sample (it ignores temperature
# otherwise); its own request field `generation_config` turns sampling on, without touching the checkpoint.
SAMPLE_ON = {"generation_config": json.dumps({"do_sample": True})}
CHAT_TEMPLATE = ("{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}A:{% endif %}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"transformers serve not healthy after {seconds:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base_url, model name) of `transformers serve` running the micro model, with a chat template added so
    that both the chat and the completions endpoints can be used."""
    pytest.importorskip("fastapi", reason="needs transformers[serving] (pip install 'transformers[serving]')")
    pytest.importorskip("uvicorn", reason="needs transformers[serving] (pip install 'transformers[serving]')")
    root = tmp_path_factory.mktemp("served")
    model_dir = root / "micro-chat"
    shutil.copytree(micro_model, model_dir, ignore=shutil.ignore_patterns("_trainer"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(model_dir)
    port, log = free_port(), root / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir), "--host", "127.0.0.1",
             "--port", str(port), "--device", "cpu", "--dtype", "float32"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}/v1", str(model_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfimprove.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_cli_eval_gsm8k_through_transformers_serve(served, shared_data, tmp_path):
    url, name = served
    out = tmp_path / "eval"
    result = cli("eval", "--backend", "openai", "--base-url", url, "--model", name, "--task", "gsm8k",
                 "--split", "test", "--limit", "4", "--k", "2", "--data-dir", str(shared_data), "--out", str(out),
                 "eval.semantic=false", "sampling.max_new_tokens=12", "sampling.temperature=1.0",
                 f"model.server.extra_body={json.dumps(SAMPLE_ON)}", env={"SELFIMPROVE_API_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    records = list(read_jsonl(out / "eval.jsonl"))
    assert [r["problem_id"] for r in records] == [f"gsm8k-test-{i}" for i in range(4)]
    assert all(len(r["samples"]) == 2 for r in records)
    assert all(1 <= c["num_tokens"] <= 12 for r in records for c in [r["greedy"], *r["samples"]])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n_problems"] == 4
    config = (out / "config.yaml").read_text()
    assert "backend: openai" in config and "api_key_env: SELFIMPROVE_API_KEY" in config
    for path in out.rglob("*"):  # the key was in the environment; it must not reach the run directory
        assert not path.is_file() or SECRET not in path.read_text(errors="ignore"), path

    # The served greedy answers are the local sampler's greedy answers on the same prompts (one prompt per
    # batch, so neither side pads): the same model, prompt and decoding, only the transport differs.
    model, tokenizer = load_model(name, "float32", "cpu")
    local = HFSampler(model, tokenizer, batch_size=1, show_progress=False)
    prompts = [r["prompt"] for r in records]
    ours = local.sample(prompts, SamplingParams(max_new_tokens=12))
    assert [r["greedy"]["text"] for r in records] == [c[0].text for c in ours]


@pytest.mark.slow
def test_chat_endpoint_and_n_top_up(served):
    url, name = served
    server = ServerSection(base_url=url, extra_body=SAMPLE_ON, concurrency=2)
    sampler = OpenAISampler(name, server, show_progress=False)
    chats = [[{"role": "user", "content": f"Ann has {i} apples. How many does she have now?"}] for i in range(3)]
    greedy = sampler.sample(chats, SamplingParams(max_new_tokens=10))
    model, tokenizer = load_model(name, "float32", "cpu")
    local = HFSampler(model, tokenizer, batch_size=1, show_progress=False).sample(chats, SamplingParams(
        max_new_tokens=10))
    assert [g[0].text for g in greedy] == [c[0].text for c in local]  # the server applied the same template

    # transformers serve ignores `n` and answers one choice: the sampler asks again until it has n.
    sampled = sampler.sample(chats, SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=5))
    assert [len(s) for s in sampled] == [3, 3, 3]
    assert len({c.text for s in sampled for c in s}) > 3  # real draws, not one greedy answer repeated


@pytest.mark.slow
def test_wrong_model_name_is_a_clean_error(served, shared_data):
    url, _ = served
    result = cli("eval", "--backend", "openai", "--base-url", url, "--model", "no-such-model", "--task", "gsm8k",
                 "--split", "test", "--limit", "1", "--k", "0", "--data-dir", str(shared_data),
                 "model.server.max_retries=0")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "rejected the request (HTTP 400)" in result.stderr and "no-such-model" in result.stderr


def test_connection_refused_is_a_clean_error():
    server = ServerSection(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0, timeout_s=5)
    with pytest.raises(UserError, match="cannot connect to .* is the server running"):
        OpenAISampler("m", server, show_progress=False).sample(["hi"], SamplingParams(max_new_tokens=4))


def test_base_url_and_key_come_from_config_then_environment(monkeypatch):
    for var in ("SELFIMPROVE_BASE_URL", "OPENAI_BASE_URL", "SELFIMPROVE_API_KEY", "OPENAI_API_KEY", "MY_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="--base-url"):
        resolve_base_url(ServerSection())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://b/v1")
    assert resolve_base_url(ServerSection()) == "http://b/v1"
    monkeypatch.setenv("SELFIMPROVE_BASE_URL", "http://a/v1/")
    assert resolve_base_url(ServerSection()) == "http://a/v1"
    assert resolve_base_url(ServerSection(base_url="http://c/v1")) == "http://c/v1"

    assert resolve_api_key(ServerSection()) == "EMPTY"
    monkeypatch.setenv("OPENAI_API_KEY", "k-openai")
    assert resolve_api_key(ServerSection()) == "k-openai"
    monkeypatch.setenv("MY_KEY", "k-mine")
    assert resolve_api_key(ServerSection(api_key_env="MY_KEY")) == "k-mine"


def status_error(cls: type[openai.APIStatusError], code: int, message: str) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://h/v1/completions")
    return cls(message, response=httpx2.Response(code, request=request), body=None)


def test_status_errors_say_what_to_do():
    server = ServerSection(api_key_env="MY_KEY", max_retries=3)
    auth = explain_error(status_error(openai.AuthenticationError, 401, "bad key"), "http://h/v1", "m", server)
    assert "refused the API key (HTTP 401)" in str(auth) and "$MY_KEY" in str(auth)
    missing = explain_error(status_error(openai.NotFoundError, 404, "no such model"), "http://h/v1", "m", server)
    assert "404 for model 'm'" in str(missing) and "/v1" in str(missing)
    limited = explain_error(status_error(openai.RateLimitError, 429, "slow down"), "http://h/v1", "m", server)
    assert "after 3 retries" in str(limited) and "concurrency" in str(limited)
    broken = explain_error(status_error(openai.InternalServerError, 503, "overloaded"), "http://h/v1", "m", server)
    assert "HTTP 503" in str(broken) and "overloaded" in str(broken)


def test_completions_take_counts_from_logprobs_else_usage_and_cut_at_stop():
    [one] = to_completions(["7 apples\nQuestion: next"], [None], used=9, stop=("Question:",))
    assert (one.text, one.num_tokens, one.logprob) == ("7 apples\n", 9, None)
    a, b = to_completions(["ab", "abcdef"], [[-0.5, None], [-1.0, -1.0, -0.25]], used=99, stop=())
    assert (a.num_tokens, a.logprob, b.num_tokens, b.logprob) == (2, -0.5, 3, -2.25)
    c, d = to_completions(["ab", "abcdef"], [None, None], used=8, stop=())  # shared out by text length
    assert (c.num_tokens, d.num_tokens) == (2, 6)


# --- misbehaving servers: malformed bodies, a hung server, one fatal error among requests in flight ----------

MALFORMED = {
    "an HTML page": (200, "text/html", "<html><body>502 Bad Gateway</body></html>"),
    "truncated JSON": (200, "application/json", '{"choices": [{"text": "7"'),
    "no choices": (200, "application/json", '{"id": "c1", "object": "text_completion"}'),
    "text null": (200, "application/json", '{"choices": [{"index": 0, "text": null}]}'),
    "text a number": (200, "application/json", '{"choices": [{"index": 0, "text": 7}]}'),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_body_names_the_server_and_the_body(case):
    with serving(lambda n: MALFORMED[case]) as served:
        url = served.url
        sampler = OpenAISampler("m", ServerSection(base_url=url, max_retries=0), show_progress=False)
        with pytest.raises(UserError) as e:
            sampler.sample(["1 + 1 ="], SamplingParams(max_new_tokens=4))
    message = str(e.value)
    assert f"{url} sent a malformed response for model 'm'" in message, message
    assert MALFORMED[case][2][:20] in message, message


def test_cli_eval_against_a_server_sending_html_is_one_error_line(tmp_path):
    with serving(lambda n: MALFORMED["an HTML page"]) as served:
        url = served.url
        result = cli("eval", "--backend", "openai", "--base-url", url, "--model", "m", "--task", "arith",
                     "--split", "test", "--limit", "2", "--k", "0", "--out", str(tmp_path / "e"),
                     "task.options.sizes.test=2", "model.server.max_retries=0")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {url} sent a malformed response")


def test_the_first_fatal_error_cancels_the_requests_in_flight():
    """Request 0 is refused at once (400); the others hang. Before, the pool waited for every hung request
    (up to timeout_s x (retries + 1)); now the refusal ends the call and closes the other connections."""
    refusal = (400, "application/json", '{"error": {"message": "bad prompt"}}')
    with serving(lambda n: refusal if n == 0 else None) as served:
        server = ServerSection(base_url=served.url, max_retries=0, timeout_s=60, concurrency=4)
        sampler = OpenAISampler("m", server, show_progress=False)
        start = time.monotonic()
        with pytest.raises(UserError, match="rejected the request.*bad prompt"):
            sampler.sample([f"{i} + 1 =" for i in range(8)], SamplingParams(max_new_tokens=4))
        assert time.monotonic() - start < 10


def test_ctrl_c_on_eval_against_a_hung_server_exits_130_at_once(tmp_path):
    with serving(hang) as served:
        proc = subprocess.Popen(
            [sys.executable, "-m", "selfimprove.cli", "eval", "--backend", "openai", "--base-url", served.url,
             "--model", "m", "--task", "arith", "--split", "test", "--limit", "4", "--k", "0",
             "--out", str(tmp_path / "e"), "task.options.sizes.test=4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        served.wait_for_requests(4)  # every prompt's request is out, and hangs (timeout_s is 300 s by default)
        assert proc.poll() is None, proc.communicate()[1]
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 10, err
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted"), err
    assert not (tmp_path / "e" / "eval.jsonl").exists()
