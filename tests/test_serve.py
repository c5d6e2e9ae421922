"""A server started per checkpoint (selfimprove.sampling.serve) fails cleanly in every way a real one can: its
command exits at start, it never becomes healthy, its port is taken, it dies while sampling, or the run is
interrupted; in each case its whole process group is stopped. The servers here are small stdlib programs
(cheap to start); the real `transformers serve` runs in tests/test_served_run.py."""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time
from pathlib import Path

import pytest

from selfimprove.errors import UserError
from selfimprove.sampling.serve import ServedModel, server_argv
from selfimprove.sections import ModelSection
from selfimprove.types import SamplingParams

from conftest import write_config
from test_cli_inputs import EVAL, assert_refused

PY = shlex.quote(sys.executable)
# Answers GET (the health check) with 200; the first POST (a sampling request) kills the server on the spot.
CRASH_ON_POST = ("import http.server as h, os, sys\n"
                 "class H(h.BaseHTTPRequestHandler):\n"
                 "    def do_GET(self): self.send_response(200); self.end_headers()\n"
                 "    def do_POST(self): print('crashing on a request', flush=True); os._exit(7)\n"
                 "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")


def model(command: str, **serve: object) -> ModelSection:
    return ModelSection(path="unused", serve={"command": command, **serve}, server={"max_retries": 0})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z" if Path(f"/proc/{pid}").exists() else True


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    return not alive(pid)


def test_command_needs_model_and_port_and_keeps_other_braces():
    with pytest.raises(ValueError, match=r"must contain \{model\} and \{port\}"):
        ModelSection(path="m", serve={"command": "vllm serve {model}"})
    assert server_argv("vllm serve {model} --port {port} --json '{\"a\": 1}'", "/ck pt", 8000) == [
        "vllm", "serve", "/ck pt", "--port", "8000", "--json", '{"a": 1}']


def test_a_command_that_exits_at_start_is_a_clear_error(tmp_path):
    command = f"{PY} -c \"import sys; print('model not found: ' + sys.argv[1]); sys.exit(3)\" {{model}} {{port}}"
    with pytest.raises(UserError, match=r"exited \(code 3\) before it was ready: model not found: /ckpt"):
        with ServedModel(model(command), "/ckpt", tmp_path / "serve.log"):
            pass
    with pytest.raises(UserError, match="cannot start the serve command 'no-such-server'.*installed"):
        with ServedModel(model("no-such-server {model} {port}"), "/ckpt", tmp_path / "serve.log"):
            pass


def test_not_healthy_in_time_stops_the_whole_process_group(tmp_path):
    """The server's own child (as vLLM's workers are) is stopped with it."""
    pids = tmp_path / "pids"
    program = ("import subprocess, sys, time, os; "
               "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
               f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(600)")
    command = f"{PY} -c {shlex.quote(program)} {{model}} {{port}}"
    with pytest.raises(UserError, match=r"did not answer http://127.0.0.1:\d+/health within 2 s"):
        with ServedModel(model(command, startup_timeout_s=2), "/ckpt", tmp_path / "serve.log"):
            pass
    server, child = map(int, pids.read_text().split())
    assert wait_gone(server) and wait_gone(child)


def test_a_busy_port_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} is already in use.*model.serve.port=0"):
            with ServedModel(model(f"{PY} -m http.server {{port}} {{model}}", port=port), "/ckpt",
                             tmp_path / "serve.log"):
                pass


def test_a_server_dying_while_sampling_is_a_clear_error(tmp_path):
    command = f"{PY} -c {shlex.quote(CRASH_ON_POST)} {{port}} {{model}}"
    served = ServedModel(model(command), "/ckpt", tmp_path / "serve.log", show_progress=False)
    with pytest.raises(UserError, match=r"exited \(code 7\) while sampling: crashing on a request"):
        with served as sampler:
            sampler.sample(["1 + 1 ="], SamplingParams(max_new_tokens=4))
    assert served.proc is None  # stopped and reaped


def test_ctrl_c_stops_the_server(tmp_path):
    served = ServedModel(model(f"{PY} -c {shlex.quote(CRASH_ON_POST)} {{port}} {{model}}"), "/ckpt",
                         tmp_path / "serve.log")
    with pytest.raises(KeyboardInterrupt):
        with served:
            pid = served.proc.pid
            raise KeyboardInterrupt
    assert wait_gone(pid)
    assert "serving /ckpt on port" in (tmp_path / "serve.log").read_text()


def test_bad_serve_settings_are_refused_through_the_cli(tmp_path, capsys):
    config = {"name": "s", "out": str(tmp_path / "runs"), "model": {"path": "m", "serve": {"command": "vllm serve {model}"}}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))], "model.serve.command", "{port}")
    config["model"] = {"path": "m", "backend": "openai", "serve": {"command": "vllm serve {model} --port {port}"}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))], "use it with backend=hf")
    config["model"] = {"path": "m", "serve": {"command": "no-such-server {model} --port {port}"}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))], "'no-such-server', which is not installed")
    assert_refused(capsys, [*EVAL, "--model", "m", "--out", str(tmp_path / "eval"),
                            "model.serve.command=no-such-server {model} {port}"],
                   "'no-such-server', which is not installed")
    assert_refused(capsys, [*EVAL, "--model", "m", "--out", str(tmp_path / "eval"),
                            "model.serve.command=vllm serve '{model} --port {port}"], "No closing quotation")
    (tmp_path / "weights.txt").write_text("not a checkpoint")
    assert_refused(capsys, [*EVAL, "--model", str(tmp_path / "weights.txt"), "--out", str(tmp_path / "eval"),
                            "model.serve.command=sh -c 'sleep 60' {model} {port}"], "is not a HF checkpoint")
    assert not (tmp_path / "eval").exists()
    assert not (tmp_path / "runs").exists()


def test_a_run_whose_server_fails_marks_nothing_done(tmp_path, capsys):
    """Through the real entry point: the first stage needs the server, its failure is the run's one error line,
    and no stage is marked done (the run folder, with nothing done in it, is not even kept)."""
    command = f"{PY} -c \"import sys; print('out of memory'); sys.exit(3)\" {{model}} {{port}}"
    config = {"name": "s", "out": str(tmp_path / "runs"), "task": {"options": {"sizes": {"test": 2, "ood": 2}}},
              "model": {"path": "m", "serve": {"command": command}}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))],
                   "the server for m exited (code 3) before it was ready: out of memory")
    assert not list((tmp_path / "runs").glob("**/.done-*"))
