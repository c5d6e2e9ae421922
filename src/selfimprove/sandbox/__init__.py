"""A sandbox for model-written code (MBPP, HumanEval, program-of-thought, STOP scaffolds).

    from selfimprove.sandbox import run_tests, run_many, SandboxConfig
    result = run_tests(program, tests)            # Result(status='passed' | 'failed' | 'timeout' | 'error' | 'killed')
    results = run_many([(program, tests), ...])   # in parallel over a pool, in input order

Statuses: passed (the tests returned normally), failed (an assertion or any exception in the tests, or
the process ended before the tests finished, or a forged/duplicated verdict), error (the program or the
tests do not compile, the program raises at import, or the sandbox could not be set up), timeout (wall
clock or CPU time), killed (a signal: memory, file size, segfault; or the output limit).

Containment (isolation.py): with namespaces, each run is a fresh process in fresh PID, mount and network
namespaces, under a fresh unprivileged uid, with the host's filesystem read-only and private tmpfs for its
working directory and /tmp; plus CPU, memory, process, file-size and output limits, closed stdin and a
whitelisted environment. Weaker fallbacks are warned about once and recorded in each result.

Verdicts (verdict.py): 'passed' needs a message carrying a per-run nonce, written by the harness after the
tests returned, exactly once, from the original process, which then exits 0. Printing "passed", exiting
early, raising SystemExit, patching builtins or the harness, tracing over asserts, editing files, forking
or killing the parent all end non-passed (tests/test_sandbox_adversarial.py).

Known limits, by design of running tests in the same interpreter as the code (as every reference
harness does): code written against this harness could dig the nonce out of the interpreter's memory
(frames, gc, ctypes) and forge a verdict; and tests that compare with an object the code returns can be
fooled by an object whose __eq__ always says True. The first needs a deliberate exploit of this harness,
the second is a weakness of the tests; neither can a process sandbox rule out. Memory is limited per
process: max_processes x memory_mb bounds a run's total.
"""

from selfimprove.sandbox.config import Result, SandboxConfig, Status
from selfimprove.sandbox.runner import run_many, run_tests

__all__ = ["Result", "SandboxConfig", "Status", "run_many", "run_tests"]
