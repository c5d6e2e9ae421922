"""A server that a run starts on one checkpoint, samples through, and stops: `model.serve.command` (vLLM,
SGLang, `transformers serve`, any OpenAI-compatible server) with {model} and {port} filled in.

Why by hand: the engines serve one checkpoint per process and none offers a library call that runs them for the
length of a block. Here the command runs in its own session (process group), so that the terminal's Ctrl-C
reaches the run only and stopping the group also stops the workers the server spawned (vLLM, SGLang); it is
stopped when the block ends, on errors and Ctrl-C too, and on Linux it is also sent SIGTERM when the run's
process dies without cleaning up (SIGKILL). Sampling goes through the existing OpenAI backend; a server that
fails to start, is not healthy in time, dies while sampling or finds its port taken ends the stage with one
clear error, so the stage is not marked done and a resumed run starts a fresh server.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from selfimprove.errors import UserError
from selfimprove.sampling.openai_backend import OpenAISampler
from selfimprove.sections import ModelSection
from selfimprove.types import Completion, Prompt, SamplingParams

HOST = "127.0.0.1"
STOP_GRACE_S = 30.0  # after SIGTERM, before SIGKILL: long enough for vLLM to release the GPU
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_port_free(port: int) -> None:
    """A taken port would let another server answer the health check in ours' place; refuse it up front."""
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise UserError(f"port {port} is already in use (another server?); stop what holds it, or set "
                            "model.serve.port=0 to pick a free port") from None


def server_argv(command: str, checkpoint: str, port: int) -> list[str]:
    """The command's words with {model} and {port} filled in (plain replacement: other braces, e.g. JSON
    arguments, stay as written)."""
    return [word.replace("{model}", checkpoint).replace("{port}", str(port)) for word in shlex.split(command)]


def check_serve_command(model: ModelSection) -> None:
    """The command's program must exist: checked when a run starts, not when its first stage needs a server."""
    if model.serve.command:
        program = shlex.split(model.serve.command)[0]
        if shutil.which(program) is None:
            raise UserError(f"model.serve.command runs {program!r}, which is not installed or not on PATH")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the run's process dies, even by SIGKILL (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def exit_reason(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing logged)"


class ServedModel:
    """`with ServedModel(model, checkpoint, log) as sampler:` starts `model.serve.command` on `checkpoint`,
    waits for its health check, yields an OpenAI sampler for it, and stops the process group on the way out.
    The server's output is appended to `log` after a header line naming the checkpoint and port."""

    def __init__(self, model: ModelSection, checkpoint: str, log: Path, show_progress: bool = True) -> None:
        if not model.serve.command:
            raise ValueError("model.serve.command is not set")
        self.model, self.checkpoint, self.log, self.show_progress = model, checkpoint, log, show_progress
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServedSampler:
        try:
            url = self.start()
            self.wait_healthy(url)
        except BaseException:
            self.stop()
            raise
        server = self.model.server.model_copy(update={"base_url": f"{url}/v1"})
        return ServedSampler(self, OpenAISampler(self.checkpoint, server, show_progress=self.show_progress))

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self) -> str:
        """Launch the command in a new session; returns the server's base URL (without /v1)."""
        serve = self.model.serve
        port = serve.port or free_port()
        if serve.port:
            check_port_free(port)
        argv = server_argv(str(serve.command), self.checkpoint, port)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} serving {self.checkpoint} on port {port}: "
                      f"{shlex.join(argv)}\n")
            out.flush()
            self.proc = self._launch(argv, out)
        return f"http://{HOST}:{port}"

    def _launch(self, argv: list[str], out: IO[str]) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as e:
            raise UserError(f"cannot start the serve command {argv[0]!r} ({e.strerror}); is it installed and on "
                            "PATH? (model.serve.command)") from None

    def wait_healthy(self, url: str) -> None:
        """Poll the health path until it answers 200; the server exiting first, or the time-out, is an error."""
        serve, started = self.model.serve, time.monotonic()
        while time.monotonic() - started < serve.startup_timeout_s:
            self.check_alive("before it was ready")
            try:
                with urllib.request.urlopen(url + serve.health_path, timeout=5) as response:
                    if response.status == 200:
                        self.check_alive("right after its health check (was another server answering?)")
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise UserError(f"the server for {self.checkpoint} did not answer {url}{serve.health_path} within "
                        f"{serve.startup_timeout_s:g} s (log: {self.log}, last line: {last_line(self.log)}); raise "
                        "model.serve.startup_timeout_s if it is still loading")

    def check_alive(self, when: str) -> None:
        code = None if self.proc is None else self.proc.poll()
        if code is not None:
            raise UserError(f"the server for {self.checkpoint} exited ({exit_reason(code)}) {when}: "
                            f"{last_line(self.log)} (full log: {self.log})")

    def stop(self) -> None:
        """SIGTERM to the whole process group, then SIGKILL to what is left of it once the leader has exited or
        the grace period is over; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=STOP_GRACE_S)
        except ProcessLookupError:
            pass
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
        finally:
            try:  # whatever is left of the group: the leader past its grace period, workers it left behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


class ServedSampler:
    """The OpenAI sampler of a `ServedModel`; when sampling fails because the server died, says so."""

    def __init__(self, served: ServedModel, inner: OpenAISampler) -> None:
        self.served, self.inner = served, inner

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        self.served.check_alive("before sampling")
        try:
            return self.inner.sample(prompts, params)
        except UserError:
            time.sleep(1.0)  # a dying server refuses connections a moment before it has exited
            self.served.check_alive("while sampling")
            raise
