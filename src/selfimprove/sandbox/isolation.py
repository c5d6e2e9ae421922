"""How a run is contained on this host: which isolation mode, the command that starts it, and what it
guarantees (recorded in every result's metadata).

Modes, strongest first (`auto` picks the first that works, see runner.resolve_isolation):
- namespaces: we are root. `unshare` gives the run new PID, mount and network namespaces; the supervisor
  makes every host mount read-only, puts private tmpfs on the working directory, /tmp, /var/tmp and
  /dev/shm, and the code runs under a fresh unprivileged uid. Nothing on the host can be written, no
  host process can be seen or signalled, and the network has only a down loopback.
- userns: not root, but user namespaces are allowed. The same namespaces inside a user namespace; the
  code keeps the host user's uid with every capability dropped, and the user's home is hidden.
- uid: root without namespaces (e.g. a container without CAP_SYS_ADMIN). Fresh unprivileged uid and
  resource limits only: the network is reachable and world-writable directories are writable (the
  parent deletes what the run's uid left in /tmp, /var/tmp and /dev/shm afterwards).
- none: limits only. Said loudly in a warning and in each result.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import py_compile
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERVISOR = Path(__file__).with_name("_supervisor.py")
HELPERS = ("_supervisor.py", "_wire.py", "_candidate.py", "_tester.py", "_seccomp.py")
# Started as an import, not as a script: an imported module's bytecode is cached, a script's never is
# (compiling the supervisor took 12 ms of every run). argv after -c stays PAYLOAD TESTS STATUS_FD.
START = (
    f"import sys; sys.path.insert(0, {str(SUPERVISOR.parent)!r}); import _supervisor; del sys.path[0]; "
    "_supervisor.main()"
)
# A per-run uid far above any real account: each run's processes can only signal each other, and
# RLIMIT_NPROC counts only them.
UID_BASE, UID_SPAN = 1_900_000_000, 100_000_000
CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"

_GUARANTEES: dict[str, dict[str, Any]] = {
    "namespaces": {"network_isolated": True, "filesystem": "host read-only; private tmpfs", "pid_namespace": True},
    "userns": {"network_isolated": True, "filesystem": "host read-only; private tmpfs", "pid_namespace": True},
    "uid": {
        "network_isolated": False,
        "filesystem": "unprivileged uid; world-writable dirs cleaned",
        "pid_namespace": False,
    },
    "none": {"network_isolated": False, "filesystem": "not contained", "pid_namespace": False},
}


@dataclass(frozen=True)
class Isolation:
    """A concrete isolation mode and what it guarantees."""

    mode: str
    network_isolated: bool
    filesystem: str
    pid_namespace: bool

    @classmethod
    def of(cls, mode: str) -> Isolation:
        return cls(mode=mode, **_GUARANTEES[mode])

    def metadata(self, allow_network: bool) -> dict[str, Any]:
        network = "allowed by config" if allow_network else ("isolated" if self.network_isolated else "NOT isolated")
        return {"isolation": self.mode, "network": network, "filesystem": self.filesystem}

    def weaknesses(self, allow_network: bool) -> list[str]:
        """What this mode fails to contain, for the one-time warning."""
        out = []
        if not self.network_isolated and not allow_network:
            out.append("the network is NOT isolated (no network namespace)")
        if self.mode in ("uid", "none"):
            out.append(f"the filesystem is only protected by {self.filesystem!r}")
        if self.mode == "none":
            out.append("the code runs as this user and could signal this process")
        return out


@functools.lru_cache(maxsize=1)
def precompile_helpers() -> None:
    """Write the bytecode of the supervisor and its helpers once: they run with -B (never writes
    bytecode), and compiling them from source in every run cost more than the rest of the start-up.
    Where the package folder is read-only they are compiled per run instead."""
    for name in HELPERS:
        source = str(SUPERVISOR.with_name(name))
        try:
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass


def candidate_modes() -> tuple[str, ...]:
    """Modes to try, strongest first, for this user on this host."""
    has_unshare = shutil.which("unshare", path=CHILD_PATH) is not None
    if os.geteuid() == 0:
        return ("namespaces", "uid") if has_unshare else ("uid",)
    return ("userns", "none") if has_unshare else ("none",)


def run_owner(mode: str) -> int:
    """The uid the code runs under: fresh per run when we can pick one."""
    if mode in ("namespaces", "uid"):
        return UID_BASE + secrets.randbelow(UID_SPAN)
    if mode == "userns":
        return 0  # root of the user namespace, mapped to us, capabilities dropped
    return os.getuid()


def payload_fields(mode: str, owner: int) -> dict[str, Any]:
    """What the supervisor needs to know about the mode. The tester gets a uid of its own where we pick
    uids, so the candidate can neither signal nor trace it."""
    namespaced = mode in ("namespaces", "userns")
    hide = [str(Path.home())] if mode == "userns" else []
    drop = {"namespaces": "uid", "uid": "uid", "userns": "caps", "none": None}[mode]
    tester = run_owner(mode)
    while tester == owner and mode in ("namespaces", "uid"):
        tester = run_owner(mode)
    return {
        "mount_namespace": namespaced,
        "pid_namespace": namespaced,
        "drop": drop,
        "owner": owner,
        "tester": tester,
        "hide": hide,
    }


def command(mode: str, allow_network: bool, payload_path: str, tests_path: str, status_fd: int) -> list[str]:
    """argv that starts the supervisor under `mode`."""
    base = [sys.executable, "-I", "-B", "-c", START, payload_path, tests_path, str(status_fd)]
    if mode not in ("namespaces", "userns"):
        return base
    unshare = shutil.which("unshare", path=CHILD_PATH) or "unshare"
    flags = ["--pid", "--fork", "--kill-child", "--mount-proc", "--mount"]
    flags += [] if allow_network else ["--net"]
    flags = ["--user", "--map-root-user", *flags] if mode == "userns" else flags
    return [unshare, *flags, *base]


def child_env(workdir: str) -> dict[str, str]:
    """The whole environment of the child: a fixed whitelist, nothing inherited (no tokens, keys or user
    variables). Thread caps keep numeric libraries inside the process limit."""
    return {
        "PATH": CHILD_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
