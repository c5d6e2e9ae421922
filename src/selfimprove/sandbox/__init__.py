"""A sandbox for model-written code: contained, fast, and impossible to fool into a false pass.

    from selfimprove.sandbox import run_tests, run_many, SandboxConfig
    result = run_tests(program, tests)            # Result(status='passed' | 'failed' | 'timeout' | ...)
    results = run_many([(program, tests), ...])   # in parallel, in input order

See isolation.py for how runs are contained and verdict.py for how 'passed' is decided.
"""

from selfimprove.sandbox.config import Result, SandboxConfig, Status
from selfimprove.sandbox.runner import run_many, run_tests

__all__ = ["Result", "SandboxConfig", "Status", "run_many", "run_tests"]
