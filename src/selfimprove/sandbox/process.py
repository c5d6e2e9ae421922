"""The parent's side of one run: start the child, read its output and the supervisor's report under a
deadline and an output cap, then make sure nothing of the run is left running or lying around."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selfimprove.errors import UserError
from selfimprove.sandbox import isolation
from selfimprove.sandbox.config import SandboxConfig
from selfimprove.sandbox.status import Observed

REPORT_CAP = 1 << 20
DRAIN_AFTER_REPORT = 0.5  # seconds to keep reading stdout/stderr once the supervisor has reported
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def execute(
    paths: tuple[str, str], cfg: SandboxConfig, iso: isolation.Isolation, owners: tuple[int, ...], deadline: float
) -> tuple[Observed, str, str]:
    """Run the supervisor on the (payload, tests) files; return what was observed and the tails of
    stdout/stderr. `owners`: the uids of the run's processes."""
    workdir = os.path.dirname(paths[0])
    status_r, status_w = os.pipe()
    try:
        proc = subprocess.Popen(
            isolation.command(iso.mode, cfg.allow_network, *paths, status_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=isolation.child_env(workdir),
            cwd=workdir,
            pass_fds=(status_w,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(status_r)
        raise UserError(f"cannot start the sandbox in {iso.mode!r} mode ({exc}); use isolation='auto'") from exc
    finally:
        os.close(status_w)
    try:
        stopped, report, tails = _collect(proc, status_r, cfg, deadline)
    finally:
        os.close(status_r)
        _stop(proc, iso, owners)
    observed = Observed(stopped, report or None, proc.returncode, cfg.timeout, cfg.cpu_limit)
    return observed, _tail(tails["stdout"], cfg.tail_bytes), _tail(tails["stderr"], cfg.tail_bytes)


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


def _stop(proc: subprocess.Popen[bytes], iso: isolation.Isolation, owners: tuple[int, ...]) -> None:
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
        for owner in owners:
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
    """uid mode: SIGKILL every live process of the run's uid (the supervisor did so when it could; after
    a timeout it is gone), again until none is left, as a fork bomb keeps making new ones while we scan."""
    for _ in range(100):
        victims = [pid for pid in pids() if live_uid(pid) == owner]
        if not victims:
            return
        for pid in victims:
            _kill(pid)
        time.sleep(0.01)


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def live_uid(pid: int) -> int | None:
    """Real uid of a live process; None for zombies (already dead, init reaps them) and vanished ones."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return None
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return None
    return int(fields["Uid"].split()[0])


def cleanup(workdir: str, iso: isolation.Isolation, owners: tuple[int, ...]) -> None:
    """Delete the run's directory and, when the run could write to the host's world-writable directories
    (uid mode), whatever its uids left there."""
    shutil.rmtree(workdir, onerror=_force_remove)
    if iso.mode != "uid":
        return
    for scratch in {*SCRATCH_DIRS, tempfile.gettempdir()}:
        try:
            entries = list(os.scandir(scratch))
        except OSError:
            continue
        for entry in entries:
            try:  # other programs' files come and go while we look
                if entry.stat(follow_symlinks=False).st_uid in owners:
                    _remove(Path(entry.path))
            except FileNotFoundError:
                pass


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=_force_remove)
    else:
        path.unlink(missing_ok=True)


def _force_remove(func: Callable[..., object], path: str, exc_info: tuple[object, BaseException, object]) -> None:
    """rmtree error handler: skip what vanished; a directory the code made unwritable is made writable
    and removed again."""
    if isinstance(exc_info[1], FileNotFoundError):
        return
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
        shutil.rmtree(path)
    else:
        os.unlink(path)
