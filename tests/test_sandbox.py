"""The sandbox's ordinary behaviour: statuses, captured output, limits, config, the pool, and status rules.

Attacks live in test_sandbox_adversarial.py; agreement with HumanEval/MBPP in test_sandbox_reference.py.
"""

from __future__ import annotations

import marshal
import os
import signal
import socket
import time

import pytest

from selfimprove.errors import UserError
from selfimprove.sandbox import Result, SandboxConfig, run_many, run_tests
from selfimprove.sandbox.runner import resolve_isolation
from selfimprove.sandbox.status import Observed, decide

ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


def test_correct_program_passes_and_records_metadata() -> None:
    result = run_tests(ADD + "print('hello from the program')\n", ADD_TESTS)
    assert result.status == "passed" and result.passed
    assert result.stdout == "hello from the program\n"
    assert result.returncode == 0
    assert 0 < result.duration < 5
    assert result.metadata["config"]["allow_network"] is False
    assert result.metadata["config"]["timeout"] == SandboxConfig().timeout
    assert result.metadata["isolation"] in ("namespaces", "userns", "uid", "none")
    assert result.metadata["network"] in ("isolated", "NOT isolated")


def test_failing_assert_is_failed_with_traceback() -> None:
    result = run_tests(WRONG_ADD, ADD_TESTS)
    assert result.status == "failed"
    assert result.detail.startswith("tests: AssertionError")
    assert 'File "<tests>", line 1' in result.stderr


@pytest.mark.parametrize(
    ("program", "tests", "phase"),
    [
        ("def add(a, b)\n    return a + b\n", ADD_TESTS, "compile: SyntaxError"),
        (ADD, "assert add(1, 2) == 3\nassert (\n", "compile: SyntaxError"),
        (ADD + "raise ValueError('at import')\n", ADD_TESTS, "program: ValueError: at import"),
        ("x = input()\n", "", "program: EOFError"),  # stdin is closed
    ],
)
def test_broken_programs_are_errors(program: str, tests: str, phase: str) -> None:
    result = run_tests(program, tests)
    assert result.status == "error"
    assert result.detail.startswith(phase)


def test_exception_inside_tests_is_failed() -> None:
    result = run_tests("def add(a, b):\n    return a + undefined\n", ADD_TESTS)
    assert result.status == "failed" and "NameError" in result.detail


def test_program_runs_in_fresh_deleted_working_directory() -> None:
    program = (
        "import os, tempfile\n"
        "open('scratch.txt', 'w').write('data')\n"
        "fd, path = tempfile.mkstemp()\n"
        "print(os.getcwd())\n"
        "print(sorted(os.listdir('.')) == sorted(['scratch.txt', os.path.basename(path)]))\n"
    )
    first = run_tests(program, "")
    second = run_tests(program, "")
    assert first.status == second.status == "passed", first.stderr
    cwd, only_own_files = first.stdout.split()
    assert only_own_files == "True"  # nothing from earlier runs, no payload or test file visible
    assert cwd != second.stdout.split()[0]
    assert not os.path.exists(cwd)


def test_environment_is_a_whitelist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFIMPROVE_TEST_USER_VARIABLE", "visible?")
    result = run_tests("import os\nprint(sorted(os.environ))\n", "")
    names = eval(result.stdout)  # a printed list of names
    assert "SELFIMPROVE_TEST_USER_VARIABLE" not in names
    assert set(names) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "PYTHONDONTWRITEBYTECODE",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }


def test_standard_library_and_site_packages_import() -> None:
    program = "import collections, decimal, hashlib, heapq, itertools, json, math, re, numpy\n"
    result = run_tests(program, "assert numpy.arange(4).sum() == 6 and math.gcd(12, 8) == 4\n")
    assert result.status == "passed", result.stderr


def test_timeout_is_enforced_and_overrides_config() -> None:
    start = time.monotonic()
    result = run_tests("import time\ntime.sleep(30)\n", "", timeout=1.0, config=SandboxConfig(timeout=20))
    assert result.status == "timeout"
    assert time.monotonic() - start < 4
    assert result.metadata["config"]["timeout"] == 1.0


def test_cpu_limit_kills_busy_loop_before_wall_clock() -> None:
    cfg = SandboxConfig(timeout=30, cpu_seconds=1)  # 1 CPU-second; the wall clock allows for a busy host
    result = run_tests("while True:\n    pass\n", "", config=cfg)
    assert result.status == "timeout" and "CPU-time" in result.detail
    assert result.duration < 30


def test_output_tail_is_capped() -> None:
    cfg = SandboxConfig(tail_bytes=100)
    result = run_tests("print('a' * 50000)\nprint('the end')\n", "", config=cfg)
    assert result.status == "passed"
    assert len(result.stdout) == 100 and result.stdout.endswith("the end\n")


def test_file_size_limit() -> None:
    cfg = SandboxConfig(max_file_mb=1)
    result = run_tests("open('big', 'wb').write(b'x' * (4 << 20))\n", "", config=cfg)
    assert result.status in ("killed", "error")
    assert not result.passed


def test_run_many_keeps_order_and_mixes_statuses() -> None:
    jobs = [(ADD, ADD_TESTS), (WRONG_ADD, ADD_TESTS), ("def add(:\n", ADD_TESTS)] * 4
    results = run_many(jobs, workers=4)
    assert [r.status for r in results] == ["passed", "failed", "error"] * 4
    assert all(isinstance(r, Result) for r in results)


def test_run_many_is_parallel() -> None:
    jobs = [("import time\ntime.sleep(1)\n", "")] * 4
    start = time.monotonic()
    results = run_many(jobs, workers=4)
    assert all(r.passed for r in results)
    assert time.monotonic() - start < 3.5  # four 1 s sleeps, run side by side


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timeout": 0}, "timeout must be positive"),
        ({"memory_mb": -1}, "memory_mb must be positive"),
        ({"cpu_seconds": 0}, "cpu_seconds"),
        ({"memory_mb": 64 * 1024}, "allow_large_limits"),
        ({"timeout": 3600}, "allow_large_limits"),
        ({"isolation": "docker"}, "isolation"),
    ],
)
def test_bad_config_is_a_user_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        SandboxConfig(**changes)  # type: ignore[arg-type]


def test_bad_jobs_are_user_errors() -> None:
    with pytest.raises(UserError, match="pair of strings"):
        run_tests(b"def f(): pass", "")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="pair of strings"):
        run_many([(ADD, ADD_TESTS), ADD])  # type: ignore[list-item]


def test_large_limits_need_the_switch_and_are_recorded() -> None:
    cfg = SandboxConfig(memory_mb=8192, allow_large_limits=True)
    result = run_tests(ADD, ADD_TESTS, config=cfg)
    assert result.passed
    assert result.metadata["config"]["allow_large_limits"] is True
    assert result.metadata["config"]["memory_mb"] == 8192
    assert set(SandboxConfig.help()) == set(SandboxConfig().to_dict())
    assert all(SandboxConfig.help().values())


def test_network_switch_reaches_a_local_listener() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
        result = run_tests(program, "", config=SandboxConfig(allow_network=True))
    assert result.status == "passed", result.stderr
    assert result.metadata["network"] == "allowed by config"
    assert result.metadata["config"]["allow_network"] is True


@pytest.mark.skipif(os.geteuid() != 0, reason="uid mode needs root")
def test_uid_mode_works_and_warns_about_its_weaknesses() -> None:
    cfg = SandboxConfig(isolation="uid")
    with pytest.warns(RuntimeWarning, match="network is NOT isolated"):
        resolve_isolation(cfg)
    program = "import os, decimal, statistics, numpy\nprint(os.getuid())\n" + ADD  # imports not preloaded
    result = run_tests(program, ADD_TESTS + "assert statistics.mean([1, 2]) == 1.5\n", config=cfg)
    assert result.passed, result.stderr
    assert int(result.stdout) not in (0, os.getuid())
    assert result.metadata["isolation"] == "uid" and result.metadata["network"] == "NOT isolated"


def test_auto_isolation_is_the_strongest_here() -> None:
    iso = resolve_isolation(SandboxConfig())
    expected = "namespaces" if os.geteuid() == 0 else "userns"
    if iso.mode != expected:
        pytest.skip(f"this host does not allow {expected} isolation (got {iso.mode})")
    assert iso.network_isolated and iso.pid_namespace


# --- the boundary between the program's process and the tests' ---------------------------------------

PLAIN = """
import collections, numpy
Point = collections.namedtuple("Point", "x y")
VALUES = {
    "nan": float("nan"), "inf": float("-inf"), "zero": -0.0, "big": 2 ** 200, "complex": 1 - 2j,
    "bytes": b"\\x00\\xff", "str": "caf\\u00e9 \\ud800", "none": None, "bool": True,
    "nested": {(1, "a"): [frozenset({1, 2}), {3}], None: {"k": (None,)}, 2.5: b""},
    "namedtuple": Point(1, 2), "counter": collections.Counter("aab"), "numpy": numpy.int64(7),
    "type": int,
}
def get(key):
    return VALUES[key]
"""
PLAIN_TESTS = """
import math
assert math.isnan(get("nan")) and get("inf") == float("-inf")
assert math.copysign(1.0, get("zero")) == -1.0
assert get("big") == 2 ** 200 and get("complex") == 1 - 2j and get("bytes") == b"\\x00\\xff"
assert get("str") == "caf\\u00e9 \\ud800" and get("none") is None and get("bool") is True
assert get("nested") == {(1, "a"): [frozenset({1, 2}), {3}], None: {"k": (None,)}, 2.5: b""}
assert get("namedtuple") == (1, 2) and type(get("namedtuple")) is tuple
assert get("counter") == {"a": 2, "b": 1} and type(get("counter")) is dict
assert get("numpy") == 7 and type(get("numpy")) is int and get("type") is int
"""


EXCEPTIONS = (
    "class Mine(Exception):\n    pass\n"
    "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    raise Mine('own')\n",
    "try:\n    f(-1)\n    raise AssertionError('no exception')\n"
    "except ValueError as e:\n    assert str(e) == 'negative'\n"
    "try:\n    f(1)\nexcept ValueError:\n    raise AssertionError('not a ValueError')\nexcept Exception as e:\n"
    "    assert type(e).__name__ == 'CandidateError' and 'Mine: own' in str(e)\n",
)
# MBPP's class-based tasks: the tests build the program's objects, set and read their attributes, pass them
# back, iterate over them. A handle equals only itself, whatever its class's __eq__ says.
HANDLES = (
    "class Node:\n    def __init__(self, data):\n        self.data, self.left = data, None\n"
    "    def __eq__(self, other):\n        return True\n"
    "def depth(node):\n    return 0 if node is None else 1 + depth(node.left)\n"
    "def count(n):\n    yield from range(n)\n",
    "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\n"
    "assert depth(root) == 3 and root.data == 1 and root.left.data == 2\n"
    "assert root == root and root != root.left and not (root == 1)\n"
    "assert list(count(3)) == [0, 1, 2] and 'generator' in repr(count(1))\n"
    "assert len({root, root, root.left}) >= 2\n",
)


@pytest.mark.parametrize(
    ("program", "tests"), [(PLAIN, PLAIN_TESTS), EXCEPTIONS, HANDLES], ids=["plain data", "exceptions", "handles"]
)
def test_what_crosses_between_the_program_and_the_tests(program: str, tests: str) -> None:
    result = run_tests(program, tests)
    assert result.passed, result.stderr


def test_the_programs_modules_and_names() -> None:
    """Modules the program imported are imported again on the tests' side; names that shadow a builtin
    reach the tests only through an explicit `from solution import`."""
    program = "import math\ndef sum(a, b):\n    return a - b\n"
    assert run_tests(program, "assert math.sqrt(4) == 2\nassert sum([1, 2]) == 3\n").passed
    assert run_tests(program, "from solution import sum\nassert sum(10, 15) == -5\n").passed
    failed = run_tests(program, "assert sum(10, 15) == -5\n")
    assert failed.status == "failed" and "TypeError" in failed.detail


def test_memory_is_recorded() -> None:
    result = run_tests(ADD, ADD_TESTS)
    assert result.metadata["memory"].startswith(("cgroup: 1024 MiB", "per-process: "))


# --- status rules, on hand-made observations (no child process) -------------------------------------

NONCE = "0123456789abcdef0123456789abcdef"


def _observe(result: bytes = b"", exit_code: int = 0, stopped: str | None = None, **report: object) -> Observed:
    body = {"result": result, "exit_code": exit_code, **report}
    return Observed(stopped, marshal.dumps(body), 0, 10.0, 10)


@pytest.mark.parametrize(
    ("observed", "status", "detail"),
    [
        (_observe(b"passed\t" + NONCE.encode() + b"\t\n"), "passed", ""),
        (_observe(b"passed\t" + b"f" * 32 + b"\t\n"), "failed", "wrong nonce"),
        (_observe(b"passed\t" + NONCE.encode() + b"\t\n", exit_code=3), "failed", "code 3"),
        (_observe(b"passed\t" + NONCE.encode() + b"\t\n" * 2), "failed", "messages"),
        (_observe(b"passed\t" + NONCE.encode() + b"\t"), "failed", "messages"),  # no newline: cut short
        (_observe(b'{"status": "passed"}\n'), "failed", "unreadable"),
        (_observe(b""), "failed", "before the tests finished"),
        (_observe(b"failed\ttests\tAssertionError: x\\ty\n", exit_code=1), "failed", "tests: AssertionError: x\ty"),
        (_observe(b"error\tprogram\tValueError\n", exit_code=1), "error", "program: ValueError"),
        (_observe(signal=int(signal.SIGXCPU)), "timeout", "CPU-time"),
        (_observe(signal=int(signal.SIGXFSZ)), "killed", "file-size"),
        (_observe(signal=int(signal.SIGSEGV)), "killed", "SIGSEGV"),
        (_observe(setup_error="OSError: mount"), "error", "setup failed"),
        (_observe(b"passed\t" + NONCE.encode() + b"\t\n", stopped="timeout"), "timeout", "wall-clock"),
        (_observe(b"passed\t" + NONCE.encode() + b"\t\n", stopped="output"), "killed", "output limit"),
        (Observed(None, None, -9, 10.0, 10), "error", "without a report"),
    ],
)
def test_status_rules(observed: Observed, status: str, detail: str) -> None:
    got_status, got_detail, _ = decide(observed, NONCE)
    assert got_status == status
    assert detail in got_detail
