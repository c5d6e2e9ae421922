"""A sandbox for model-written code (MBPP, HumanEval, program-of-thought, STOP scaffolds).

    from selfimprove.sandbox import run_tests, run_many, SandboxConfig
    result = run_tests(program, tests)            # Result(status='passed' | 'failed' | 'timeout' | 'error' | 'killed')
    results = run_many([(program, tests), ...])   # in parallel over a pool, in input order

Statuses: passed (the tests returned normally), failed (an assertion or any exception in the tests, or
the process ended before the tests finished, or a forged/duplicated result message), error (the program or the
tests do not compile, the program raises at import, or the sandbox could not be set up), timeout (wall
clock or CPU time), killed (a signal: memory, file size, segfault; or the output limit).

Containment (isolation.py): with namespaces, each run is a fresh process in fresh PID, mount and network
namespaces, under a fresh unprivileged uid, with the host's filesystem read-only and private tmpfs for its
working directory and /tmp; plus CPU, memory, process, file-size and output limits, closed stdin and a
whitelisted environment. Weaker fallbacks are warned about once and recorded in each result.

Threat model. The program is hostile: it may have been written (or trained) to make a wrong answer
pass. It runs in its own process, the candidate; the tests run in another, the tester (_tester.py),
forked by the trusted supervisor after the candidate, under a different uid where uids can be picked
(else with every capability dropped and not dumpable). The candidate holds only two pipes to the tester;
it never has the tests, the nonce or the result channel in its memory or its descriptors. The tester
calls the program's top-level functions across the pipes and gets back plain data only (_wire.py:
exact built-in types, nothing with code of the program), so every comparison in the tests runs on the
tester's side with the tester's builtins. What this rules out, each in tests/test_sandbox_adversarial.py:
  - forging 'passed' from inside the interpreter: walking frames (sys._getframe, inspect, tracebacks,
    gc.get_objects, from a thread or a signal handler), rewriting the harness's locals through ctypes,
    patching builtins, os, sys or the harness, writing guesses into every descriptor, exiting early,
    forking, atexit or finalizers: the harness the program can reach decides nothing;
  - values that lie: an __eq__ that always says True, a str or int subclass, a StopIteration that ends
    the tests' loop early, huge or deeply nested results, a repr that never returns;
  - names that lie: a program's `abs`, `sorted` or fake `math` never replaces the tests' own (unless
    the tests import the name from `solution` on purpose, as MBPP task 126 needs for its `sum`);
  - the host: read-only filesystem, private /tmp, no network, no unix socket (seccomp), a fresh uid,
    no host process visible, and memory bounded per run (a cgroup over all the run's processes, else
    per-process limits whose sum stays within memory_mb; cgroup.py).
What it does not rule out: a program that is right on the tests' inputs and wrong elsewhere, or that
hard-codes answers it saw in the prompt (MBPP shows its asserts) -- weak tests, not a broken sandbox;
a kernel exploit; and, in the weaker modes (uid, none), the gaps their warnings name.

Statuses (status.py): 'passed' needs a message carrying a per-run nonce, written by the tester after the
tests returned, exactly once, and the tester's exit code 0. Objects that are not plain data stay in the
candidate as handles: equal only to themselves; their attributes, len, str and iteration come back as
plain data. Exceptions come back as the built-in exception of the same name (so tests expecting a
ValueError still work), else CandidateError. Defaults (memory_mb=1024 for a whole run, at most
half the RAM's worth of runs at once in run_many) keep a pool within a 24 GiB machine.
"""

from selfimprove.sandbox.config import Result, SandboxConfig, Status
from selfimprove.sandbox.runner import run_many, run_tests

__all__ = ["Result", "SandboxConfig", "Status", "run_many", "run_tests"]
