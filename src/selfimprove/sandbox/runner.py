"""The sandbox's entry points: run model-written code against tests, one run or many over a pool.

Each run gets a fresh temporary directory (deleted afterwards), a fresh nonce, (where we can pick them)
fresh uids for the program's and the tests' processes, a memory cgroup where one can be made, and two
files, the payload and the tests, that the supervisor deletes before any untrusted code starts.
process.py starts and watches the child; status.py decides the status from the trusted supervisor's
report, never from the code's output or exit code.
"""

from __future__ import annotations

import dataclasses
import marshal
import os
import secrets
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selfimprove.errors import UserError
from selfimprove.sandbox import cgroup, isolation, process
from selfimprove.sandbox.config import Result, SandboxConfig
from selfimprove.sandbox.status import decide

FALLBACK_FLOOR_MB = 256
_PROBE = ("def probe():\n    return 41 + 1\n", "assert probe() == 42\n")
_lock = threading.Lock()
_auto: dict[bool, isolation.Isolation] = {}
_warned: set[str] = set()


def run_tests(program: str, tests: str, timeout: float | None = None, config: SandboxConfig | None = None) -> Result:
    """Run `program` in a fresh sandbox, then `tests` in a separate process that sees the program's
    top-level names (calls cross as plain data); 'passed' only when the tests returned normally.
    `timeout` (seconds) overrides config.timeout."""
    cfg = config or SandboxConfig()
    if timeout is not None:
        cfg = dataclasses.replace(cfg, timeout=timeout)
    _check_job((program, tests))
    return _run(program, tests, cfg, resolve_isolation(cfg))


def run_many(
    jobs: Iterable[tuple[str, str]], config: SandboxConfig | None = None, workers: int | None = None
) -> list[Result]:
    """Run (program, tests) pairs in parallel over a pool of threads, each waiting on its own child
    process; results come back in input order."""
    cfg = config or SandboxConfig()
    iso = resolve_isolation(cfg)
    jobs = [_check_job(job) for job in jobs]
    size = workers or cfg.workers or default_workers(cfg)
    with ThreadPoolExecutor(max_workers=max(1, min(size, len(jobs) or 1))) as pool:
        return list(pool.map(lambda job: _run(job[0], job[1], cfg, iso), jobs))


def default_workers(cfg: SandboxConfig) -> int:
    """Four runs per CPU core (most of a run is waiting on its processes), but never more than fit in
    half of this machine's memory at memory_mb each: 12 on a 24 GiB machine at the default 1024 MiB."""
    try:
        memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (ValueError, OSError):
        memory_mb = 0
    fit = memory_mb // 2 // cfg.memory_mb if memory_mb else 4 * (os.cpu_count() or 1)
    return max(1, min(4 * (os.cpu_count() or 1), fit))


def _check_job(job: tuple[str, str]) -> tuple[str, str]:
    if not (isinstance(job, tuple) and len(job) == 2 and all(isinstance(part, str) for part in job)):
        raise UserError(f"a sandbox job is a (program, tests) pair of strings, got {type(job).__name__}: {job!r:.80}")
    return job


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
        result = _run(*_PROBE, dataclasses.replace(cfg, timeout=10.0), iso)
        if result.passed:
            return iso
        why = result.detail or result.stderr.strip()[-300:]
        warnings.warn(f"selfimprove sandbox: {mode} isolation does not work here ({why})", RuntimeWarning, stacklevel=4)
    return isolation.Isolation.of(modes[-1])


def _warn_once(iso: isolation.Isolation, allow_network: bool) -> None:
    for weakness in iso.weaknesses(allow_network):
        if weakness not in _warned:
            _warned.add(weakness)
            warnings.warn(f"selfimprove sandbox ({iso.mode} mode): {weakness}", RuntimeWarning, stacklevel=3)


def _run(program: str, tests: str, cfg: SandboxConfig, iso: isolation.Isolation) -> Result:
    isolation.precompile_helpers()
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="selfimprove-sandbox-")
    owner = isolation.run_owner(iso.mode)
    nonce = secrets.token_hex(16)
    fields = isolation.payload_fields(iso.mode, owner)
    owners = (owner, fields["tester"])
    group = cgroup.create(cfg.memory_mb << 20)
    try:
        paths = _write_payload(workdir, program, tests, nonce, cfg, fields, group)
        observed, stdout, stderr = process.execute(paths, cfg, iso, owners, start + cfg.timeout)
    finally:
        process.cleanup(workdir, iso, owners)
        cgroup.remove(group)
    status, detail, code = decide(observed, nonce)
    memory = f"cgroup: {cfg.memory_mb} MiB for the whole run" if group else "per-process: " + _fallback_text(cfg)
    meta = {**iso.metadata(cfg.allow_network), "memory": memory, "uid": owner, "config": cfg.to_dict()}
    return Result(status, stdout, stderr, time.monotonic() - start, detail, code, meta)


def fallback_limits(cfg: SandboxConfig) -> tuple[int, int]:
    """(MiB per process, processes) without a cgroup: processes x MiB stays within memory_mb, each process
    gets at least FALLBACK_FLOOR_MB (an interpreter with numpy needs about that), and never more
    processes than max_processes. The tester, one more process, gets the same per-process limit."""
    per_process = max(cfg.memory_mb // cfg.max_processes, min(FALLBACK_FLOOR_MB, cfg.memory_mb))
    return per_process, max(1, min(cfg.max_processes, cfg.memory_mb // per_process))


def _fallback_text(cfg: SandboxConfig) -> str:
    per_process, processes = fallback_limits(cfg)
    return f"{processes} processes x {per_process} MiB (no writable memory cgroup)"


def _write_payload(
    workdir: str,
    program: str,
    tests: str,
    nonce: str,
    cfg: SandboxConfig,
    fields: dict[str, Any],
    group: str | None,
) -> tuple[str, str]:
    """Two files: the payload (program, limits) and the tests with the nonce, which the supervisor reads
    only after the candidate's process has been forked."""
    memory_mb, processes = (cfg.memory_mb, cfg.max_processes) if group else fallback_limits(cfg)
    limits = {
        "cpu_seconds": cfg.cpu_limit,
        "memory_bytes": memory_mb << 20,
        "max_processes": processes,
        "max_file_bytes": cfg.max_file_mb << 20,
    }
    payload: dict[str, Any] = {"program": program, "workdir": workdir, "cgroup": group}
    payload.update(limits=limits, disk_mb=cfg.disk_mb, **fields)
    paths = []
    for name, body in ((".payload", payload), (".tests", {"tests": tests, "nonce": nonce})):
        path = os.path.join(workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            marshal.dump(body, fh)  # marshal: built into the child's interpreter, so no import at start-up
        paths.append(path)
    return paths[0], paths[1]
