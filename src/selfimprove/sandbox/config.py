"""The sandbox's public types: its configuration (limits, network switch) and the result of one run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from selfimprove.errors import UserError

Status = Literal["passed", "failed", "timeout", "error", "killed"]
IsolationMode = Literal["auto", "namespaces", "userns", "uid", "none"]
ISOLATION_MODES: tuple[str, ...] = ("auto", "namespaces", "userns", "uid", "none")

# Limits above these need allow_large_limits=True: a verifier loop runs thousands of model programs, and
# one that is allowed 64 GB or an hour can take the whole machine down with it.
SAFE_CAPS: dict[str, float] = {
    "timeout": 60.0,
    "cpu_seconds": 60.0,
    "memory_mb": 4096,
    "max_processes": 256,
    "max_file_mb": 256,
    "disk_mb": 1024,
    "max_output_bytes": 64 << 20,
}


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and switches for running model-written code. Defaults are the safe ones; raising a limit
    past its safe cap needs `allow_large_limits`, and the network needs `allow_network`. Every result
    records the config it ran under."""

    timeout: float = field(default=10.0, metadata=_help("Wall-clock seconds per run; the run is killed after."))
    cpu_seconds: int | None = field(
        default=None, metadata=_help("CPU-seconds limit of the code's process (RLIMIT_CPU); None: ceil(timeout).")
    )
    memory_mb: int = field(
        default=1024,
        metadata=_help(
            "Memory of the whole run, MiB: a cgroup limit over all its processes where one can be made, else "
            "split into per-process address-space limits (RLIMIT_AS) whose sum stays within it."
        ),
    )
    max_processes: int = field(
        default=32,
        metadata=_help(
            "Processes plus threads the program may have at once (RLIMIT_NPROC); stops fork bombs. Without a "
            "memory cgroup, fewer: as many as memory_mb allows at 256 MiB each."
        ),
    )
    max_file_mb: int = field(default=16, metadata=_help("Largest file the code may write, MiB (RLIMIT_FSIZE)."))
    disk_mb: int = field(
        default=64, metadata=_help("Size of each private tmpfs (working directory, /tmp, /dev/shm), MiB.")
    )
    max_output_bytes: int = field(
        default=1 << 20, metadata=_help("stdout plus stderr bytes after which the run is killed (status 'killed').")
    )
    tail_bytes: int = field(
        default=4096, metadata=_help("How many final bytes of stdout and of stderr a result keeps.")
    )
    allow_network: bool = field(
        default=False, metadata=_help("Let the code use the network (no new network namespace). Off by default.")
    )
    allow_large_limits: bool = field(
        default=False, metadata=_help(f"Permit limits above the safe caps {SAFE_CAPS}. Off by default.")
    )
    isolation: IsolationMode = field(
        default="auto",
        metadata=_help(
            "How to contain the code. auto: the strongest that works here. namespaces: root, new PID/mount/"
            "network namespaces and a per-run uid. userns: the same inside a user namespace (non-root). "
            "uid: per-run uid only (root, no namespaces; network and /tmp not contained). none: limits only."
        ),
    )
    workers: int = field(
        default=0,
        metadata=_help("Parallel runs in run_many; 0: four per CPU core, at most as many as fit half the RAM."),
    )

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise UserError(f"sandbox isolation {self.isolation!r} is unknown; use one of {ISOLATION_MODES}")
        positive = ("timeout", "memory_mb", "max_processes", "max_file_mb", "disk_mb", "max_output_bytes")
        for name in positive:
            if not getattr(self, name) > 0:
                raise UserError(f"sandbox {name} must be positive, got {getattr(self, name)!r}")
        if self.cpu_seconds is not None and self.cpu_seconds < 1:
            raise UserError(f"sandbox cpu_seconds must be at least 1 (or None), got {self.cpu_seconds!r}")
        if self.tail_bytes < 0 or self.workers < 0:
            raise UserError("sandbox tail_bytes and workers must not be negative")
        if not self.allow_large_limits:
            for name, cap in SAFE_CAPS.items():
                value = getattr(self, name)
                if value is not None and value > cap:
                    raise UserError(
                        f"sandbox {name}={value} is above the safe cap {cap}; lower it or set allow_large_limits=True"
                    )

    @property
    def cpu_limit(self) -> int:
        """The CPU-seconds limit actually applied."""
        return self.cpu_seconds if self.cpu_seconds is not None else max(1, math.ceil(self.timeout))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> help text (for CLI and docs)."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


@dataclass(frozen=True)
class Result:
    """How one run ended. `status` is 'passed' only when the harness saw the tests return normally;
    `detail` says why otherwise. `metadata` holds the isolation actually used and the config."""

    status: Status
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    detail: str = ""
    returncode: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
