"""A memory cgroup per run, so that `memory_mb` bounds the run's total, however many processes it makes.

RLIMIT_AS limits one process's address space; a run that forks six processes could use six times that.
Where this process may create cgroups (root, or a delegated subtree), each run gets a child of our own
memory cgroup with the run's limit, which the supervisor joins before anything else, so every process
of the run counts (the kernel kills inside the group when it is full). cgroup v2 (memory.max) and the v1
memory controller (memory.limit_in_bytes) are both supported; swap is limited too where the file exists.

Without a writable cgroup the runner falls back to per-process limits chosen so that processes x memory
stays within `memory_mb` (see runner.fallback_limits); each result records which applied.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from pathlib import Path

PREFIX = "selfimprove-sandbox-"


@functools.lru_cache(maxsize=1)
def parent() -> tuple[Path, str] | None:
    """(our memory cgroup's folder, limit file name) if we can make children there, else None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: usable only where the memory controller is enabled for children
            folder = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit = "memory.max"
            if "memory" not in _read(folder / "cgroup.subtree_control").split():
                continue
        elif "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit = "memory.limit_in_bytes"
        else:
            continue
        if _works(folder, limit):
            return folder, limit
    return None


def _works(folder: Path, limit: str) -> bool:
    """Make a probe child and set a limit on it; any failure: not usable."""
    probe = folder / f"{PREFIX}probe-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        if not (probe / limit).exists():  # not a cgroup filesystem after all
            return False
        (probe / limit).write_text(str(1 << 30))
        return True
    except OSError:
        return False
    finally:
        remove(str(probe))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def create(memory_bytes: int) -> str | None:
    """A fresh cgroup limited to `memory_bytes` (memory plus swap); None where cgroups are not usable."""
    found = parent()
    if found is None:
        return None
    folder, limit = found
    path = folder / f"{PREFIX}{secrets.token_hex(8)}"
    path.mkdir()
    (path / limit).write_text(str(memory_bytes))
    for swap in ("memory.swap.max", "memory.memsw.limit_in_bytes"):
        if (path / swap).exists():
            (path / swap).write_text("0" if swap == "memory.swap.max" else str(memory_bytes))
    return str(path)


def remove(path: str | None) -> None:
    """Delete a run's cgroup once its processes are gone (a killed process leaves it a moment later)."""
    if path is None:
        return
    for _ in range(200):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY: a process of the run is still exiting
            time.sleep(0.01)
