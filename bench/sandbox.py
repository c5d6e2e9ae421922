"""Sandbox throughput: executions per second for trivial passing programs.

Prints, measured in one run on this machine:
  - the sandbox with its worker pool (run_many),
  - the sandbox one run at a time (run_tests in a loop),
  - a naive baseline: one plain `python -c program+tests` subprocess at a time, no isolation at all.

    python bench/sandbox.py [--runs 200] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

from selfimprove.sandbox import SandboxConfig, run_many, run_tests
from selfimprove.sandbox.runner import default_workers, resolve_isolation

PROGRAM = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


def naive(runs: int) -> float:
    """Executions/s of one unsandboxed subprocess at a time (what a harness without a sandbox does)."""
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run([sys.executable, "-c", PROGRAM + TESTS], capture_output=True, timeout=10, check=True)
    return runs / (time.perf_counter() - start)


def sequential(runs: int, cfg: SandboxConfig) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        assert run_tests(PROGRAM, TESTS, config=cfg).passed
    return runs / (time.perf_counter() - start)


def pooled(runs: int, cfg: SandboxConfig, workers: int) -> float:
    start = time.perf_counter()
    results = run_many([(PROGRAM, TESTS)] * runs, cfg, workers=workers or None)
    elapsed = time.perf_counter() - start
    assert all(r.passed for r in results), [r for r in results if not r.passed][:1]
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="executions per measurement")
    parser.add_argument("--workers", type=int, default=0, help="pool size; 0: the sandbox default")
    args = parser.parse_args()
    cfg = SandboxConfig()
    with warnings.catch_warnings(record=True) as caught:
        iso = resolve_isolation(cfg)
    workers = args.workers or cfg.workers or default_workers(cfg)
    print(f"isolation: {iso.mode} ({'; '.join(str(w.message) for w in caught) or 'fully contained'})")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, runs per measurement: {args.runs}")
    base = naive(args.runs)
    seq = sequential(args.runs // 2, cfg)
    pool = pooled(args.runs, cfg, workers)
    print(f"naive baseline (plain subprocess, one at a time): {base:7.1f} exec/s")
    print(f"sandbox, one at a time:                          {seq:7.1f} exec/s")
    print(f"sandbox, pool of {workers:<2d} workers:                     {pool:7.1f} exec/s")
    print(f"pool vs naive baseline: {pool / base:.2f}x; pool vs sandbox one at a time: {pool / seq:.2f}x")


if __name__ == "__main__":
    main()
