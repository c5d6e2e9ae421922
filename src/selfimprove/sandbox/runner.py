"""Run model-written code against tests in a fresh, contained child process; many at once over a pool.

Each run: a fresh temporary directory (deleted afterwards), a payload file the supervisor reads and
deletes before any untrusted code starts, a child started with a whitelisted environment, closed stdin and
captured stdout/stderr, and a wall-clock deadline enforced here. The verdict is decided by verdict.py from
the trusted supervisor's report, never from the code's output or exit code.
"""

from __future__ import annotations

import dataclasses
import marshal
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selfimprove.sandbox import isolation
from selfimprove.sandbox.config import Result, SandboxConfig
from selfimprove.sandbox.verdict import Observed, decide

REPORT_CAP = 1 << 20
DRAIN_AFTER_REPORT = 0.5  # seconds to keep reading stdout/stderr once the supervisor has reported
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_PROBE = ("def probe():\n    return 41 + 1\n", "assert probe() == 42\n")
_lock = threading.Lock()
_auto: dict[bool, isolation.Isolation] = {}
_warned: set[str] = set()


def run_tests(program: str, tests: str, timeout: float | None = None, config: SandboxConfig | None = None) -> Result:
    """Run `program`, then `tests` in the same namespace, in a fresh sandbox; 'passed' only when the tests
    returned normally. `timeout` (seconds) overrides config.timeout."""
    cfg = config or SandboxConfig()
    if timeout is not None:
        cfg = dataclasses.replace(cfg, timeout=timeout)
    return _run(program, tests, cfg, resolve_isolation(cfg))


def run_many(
    jobs: Iterable[tuple[str, str]], config: SandboxConfig | None = None, workers: int | None = None
) -> list[Result]:
    """Run (program, tests) pairs in parallel over a pool of threads, each waiting on its own child
    process; results come back in input order."""
    cfg = config or SandboxConfig()
    iso = resolve_isolation(cfg)
    jobs = list(jobs)
    size = workers or cfg.workers or 4 * (os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, min(size, len(jobs) or 1))) as pool:
        return list(pool.map(lambda job: _run(job[0], job[1], cfg, iso), jobs))


def resolve_isolation(cfg: SandboxConfig) -> isolation.Isolation:
    """The mode to use: the configured one, or (auto) the strongest that passes a probe run here, decided
    once per process. Weaknesses are warned about once and recorded in every result."""
    if cfg.isolation != "auto":
        iso = isolation.Isolation.of(cfg.isolation)
    else:
        with _lock:
            if cfg.allow_network not in _auto:
                _auto[cfg.allow_network] = _probe(cfg)
            iso = _auto[cfg.allow_network]
    _warn_once(iso, cfg.allow_network)
    return iso


def _probe(cfg: SandboxConfig) -> isolation.Isolation:
    modes = isolation.candidate_modes()
    for mode in modes[:-1]:
        iso = isolation.Isolation.of(mode)
        if _run(*_PROBE, dataclasses.replace(cfg, timeout=10.0), iso).passed:
            return iso
    return isolation.Isolation.of(modes[-1])


def _warn_once(iso: isolation.Isolation, allow_network: bool) -> None:
    for weakness in iso.weaknesses(allow_network):
        if weakness not in _warned:
            _warned.add(weakness)
            warnings.warn(f"selfimprove sandbox ({iso.mode} mode): {weakness}", RuntimeWarning, stacklevel=3)


def _run(program: str, tests: str, cfg: SandboxConfig, iso: isolation.Isolation) -> Result:
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="selfimprove-sandbox-")
    owner = isolation.run_owner(iso.mode)
    nonce = secrets.token_hex(16)
    try:
        payload_path = _write_payload(workdir, program, tests, nonce, cfg, iso, owner)
        observed, tails = _execute(workdir, payload_path, cfg, iso, owner, start)
    finally:
        _cleanup(workdir, iso, owner)
    status, detail, code = decide(observed, nonce)
    meta = {**iso.metadata(cfg.allow_network), "uid": owner, "config": cfg.to_dict()}
    stdout, stderr = (_tail(tails[name], cfg.tail_bytes) for name in ("stdout", "stderr"))
    return Result(status, stdout, stderr, time.monotonic() - start, detail, code, meta)


def _write_payload(
    workdir: str, program: str, tests: str, nonce: str, cfg: SandboxConfig, iso: isolation.Isolation, owner: int
) -> str:
    limits = {
        "cpu_seconds": cfg.cpu_limit,
        "memory_bytes": cfg.memory_mb << 20,
        "max_processes": cfg.max_processes,
        "max_file_bytes": cfg.max_file_mb << 20,
    }
    payload = {"program": program, "tests": tests, "nonce": nonce, "workdir": workdir, "limits": limits}
    payload.update(disk_mb=cfg.disk_mb, **isolation.payload_fields(iso.mode, owner))
    path = os.path.join(workdir, ".payload.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        marshal.dump(payload, fh)  # marshal: built into the child's interpreter, so no import at start-up
    return path


def _execute(
    workdir: str, payload_path: str, cfg: SandboxConfig, iso: isolation.Isolation, owner: int, start: float
) -> tuple[Observed, dict[str, bytearray]]:
    status_r, status_w = os.pipe()
    try:
        proc = subprocess.Popen(
            isolation.command(iso.mode, cfg.allow_network, payload_path, status_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=isolation.child_env(workdir),
            cwd=workdir,
            pass_fds=(status_w,),
            start_new_session=True,
        )
    finally:
        os.close(status_w)
    try:
        stopped, report, tails = _collect(proc, status_r, cfg, start + cfg.timeout)
    finally:
        os.close(status_r)
        _stop(proc, iso, owner)
    observed = Observed(stopped, report or None, proc.returncode, cfg.timeout, cfg.cpu_limit)
    return observed, tails


def _collect(
    proc: subprocess.Popen[bytes], status_r: int, cfg: SandboxConfig, deadline: float
) -> tuple[str | None, bytes, dict[str, bytearray]]:
    """Read stdout, stderr and the supervisor's report until all close, the deadline passes, or the
    output limit is hit. Keeps only the tails of the streams."""
    assert proc.stdout is not None and proc.stderr is not None
    names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr", status_r: "report"}
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    report, total, stopped = bytearray(), 0, None
    with selectors.DefaultSelector() as sel:
        for fd in names:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map() and stopped is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:  # a timeout unless the supervisor had already reported (then: stop draining)
                stopped = "timeout" if status_r in sel.get_map() else None
                break
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65536)
                name = names[key.fd]
                if not chunk:
                    sel.unregister(key.fd)
                    if name == "report":  # the supervisor is done: drain briefly, never wait on leftovers
                        deadline = min(deadline, time.monotonic() + DRAIN_AFTER_REPORT)
                elif name == "report":
                    report += chunk[: REPORT_CAP - len(report)]
                else:
                    total += len(chunk)
                    _keep_tail(tails[name], chunk, cfg.tail_bytes)
                    stopped = "output" if total > cfg.max_output_bytes else None
    return stopped, bytes(report), tails


def _tail(buf: bytearray, size: int) -> str:
    return bytes(buf[len(buf) - size :] if size else b"").decode("utf-8", "replace")


def _keep_tail(buf: bytearray, chunk: bytes, size: int) -> None:
    buf += chunk
    if len(buf) > 2 * size:
        del buf[: len(buf) - size]


def _stop(proc: subprocess.Popen[bytes], iso: isolation.Isolation, owner: int) -> None:
    """Make sure nothing of the run is left when we return.

    With a PID namespace, kill the namespace's init (the supervisor), not `unshare`: the kernel kills
    every process in the namespace before init can be reaped, and `unshare` exits only after reaping it.
    Without one, kill the process group, then every process of the run's uid. Our read ends are closed
    first: a writer blocked on a full pipe (even `unshare` reporting its child's death) gets EPIPE."""
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    if proc.poll() is None and iso.pid_namespace:
        for pid in _children(proc.pid):
            _kill(pid)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        _kill(-proc.pid)
    proc.wait()
    if iso.mode == "uid":
        _kill_owner(owner)


def _kill(pid: int) -> None:
    """SIGKILL a process (pid > 0) or a process group (pid < 0) that may already be gone."""
    try:
        if pid < 0:
            os.killpg(-pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(child) for child in fh.read().split()]
    except OSError:
        return []


def _kill_owner(owner: int) -> None:
    """uid mode after a kill: SIGKILL every live process of the run's uid, again until none is left (a
    fork bomb keeps making new ones while we scan)."""
    for _ in range(100):
        victims = [pid for pid in _pids() if _live_uid(pid) == owner]
        if not victims:
            return
        for pid in victims:
            _kill(pid)
        time.sleep(0.01)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _live_uid(pid: int) -> int | None:
    """Real uid of a live process; None for zombies (already dead, init reaps them) and vanished ones."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return None
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return None
    return int(fields["Uid"].split()[0])


def _cleanup(workdir: str, iso: isolation.Isolation, owner: int) -> None:
    """Delete the run's directory and, when the run could write to the host's world-writable directories
    (uid mode), whatever its uid left there."""
    shutil.rmtree(workdir, onerror=_force_remove)
    if iso.mode != "uid":
        return
    for scratch in {*SCRATCH_DIRS, tempfile.gettempdir()}:
        try:
            entries = list(os.scandir(scratch))
        except OSError:
            continue
        for entry in entries:
            if entry.stat(follow_symlinks=False).st_uid == owner:
                _remove(Path(entry.path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=_force_remove)
    else:
        path.unlink(missing_ok=True)


def _force_remove(func, path, _exc_info) -> None:  # type: ignore[no-untyped-def]
    """rmtree error handler: a directory the code made unwritable; make it writable and retry once."""
    parent = os.path.dirname(path)
    os.chmod(parent, 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
        shutil.rmtree(path)
    else:
        os.unlink(path)
