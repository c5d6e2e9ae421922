"""Attacks on the sandbox. Every one must end in a non-'passed' status within its limits, leave no process
of the run's uid behind, and leave the host as it was.

The programs are wrong on purpose (`add` returns 0), so the only way to 'pass' is to fool the harness.
Tests marked with a mode run once per isolation mode this host offers (namespaces and, as root, the
weaker uid fallback), because the fallback must hold too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from selfimprove.sandbox import Result, SandboxConfig, cgroup, run_many, run_tests
from selfimprove.sandbox.isolation import HELPERS, SUPERVISOR
from selfimprove.sandbox.process import live_uid, pids
from selfimprove.sandbox.runner import resolve_isolation

REPO = Path(__file__).resolve().parents[1]
WRONG = "\ndef add(a, b):\n    return 0\n"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
# Without any containment these attacks would really hit this machine (and this process): don't run them.
pytestmark = pytest.mark.skipif(
    resolve_isolation(SandboxConfig()).mode == "none", reason="this host offers no containment (mode 'none')"
)


def _modes(with_userns: bool = False) -> list[str]:
    """The auto mode, plus (as root) the weaker uid fallback and, where asked, userns forced as root: then
    the code is host uid 0 without capabilities, so only the read-only mounts protect root's files. Not
    for process bombs: uid 0 is exempt from RLIMIT_NPROC."""
    modes = [resolve_isolation(SandboxConfig()).mode]
    if os.geteuid() == 0 and "uid" not in modes:
        modes.append("uid")
    if with_userns and os.geteuid() == 0 and _works(SandboxConfig(isolation="userns")):
        modes.append("userns")
    return modes


def _works(cfg: SandboxConfig) -> bool:
    return run_tests("def add(a, b):\n    return a + b\n", TESTS, config=cfg).passed


@pytest.fixture(params=_modes())
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=_modes(with_userns=True))
def any_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _uid_processes(uid: int) -> list[int]:
    """Live processes of `uid` (zombies are dead already)."""
    return [pid for pid in pids() if live_uid(pid) == uid]


def _uid_files(uid: int) -> list[str]:
    places = [*SCRATCH, tempfile.gettempdir(), str(Path.home()), str(REPO)]
    out = []
    for place in places:
        for entry in os.scandir(place):
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    out.append(entry.path)
            except FileNotFoundError:  # someone else's file, gone while we looked
                pass
    return out


def _contained(result: Result, max_seconds: float) -> None:
    """The common post-conditions: not passed, in time, nothing of the run's uid left on the host."""
    assert result.status != "passed", result
    assert result.duration < max_seconds, result
    uid = result.metadata["uid"]
    if uid != os.getuid():
        assert _uid_processes(uid) == [], f"processes of the run's uid {uid} survived"
        assert _uid_files(uid) == [], f"files of the run's uid {uid} were left on the host"


def _run(program: str, tests: str = TESTS, mode: str = "auto", **limits: object) -> Result:
    return run_tests(program, tests, config=SandboxConfig(isolation=mode, **limits))  # type: ignore[arg-type]


# --- resource bombs ---------------------------------------------------------------------------------


def test_infinite_loop(mode: str) -> None:
    result = _run("while True:\n    pass\n" + WRONG, mode=mode, timeout=2)
    assert result.status == "timeout"
    _contained(result, 5)


def test_fork_bomb(mode: str) -> None:
    program = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n" + WRONG
    result = _run(program, mode=mode, timeout=3)
    assert result.status == "timeout"
    _contained(result, 8)


@pytest.mark.parametrize(
    "program",
    [
        "x = bytearray(64 << 30)\n",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n",
        "x = [0] * (1 << 34)\n",
    ],
    ids=["one-huge", "growing", "list"],
)
def test_memory_bomb(program: str) -> None:
    result = _run(program + WRONG, timeout=10, memory_mb=512)
    assert result.status in ("error", "killed") and "MemoryError" in result.detail + result.stderr
    _contained(result, 11)


def test_recursion_bomb() -> None:
    plain = _run("def f(n):\n    return f(n + 1) + 1\nf(0)\n" + WRONG, timeout=5)
    assert plain.status == "error" and "RecursionError" in plain.detail
    _contained(plain, 6)
    deep = "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n" + WRONG
    result = _run(deep, timeout=3)
    assert result.status in ("killed", "error", "timeout")  # SIGSEGV, MemoryError, or still growing
    _contained(result, 5)


@pytest.mark.parametrize("stream", ["sys.stdout.write(chunk)", "os.write(2, chunk.encode())"])
def test_one_gigabyte_of_output(stream: str) -> None:
    program = f"import os, sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    {stream}\n" + WRONG
    result = _run(program, timeout=10)
    assert result.status == "killed" and "output limit" in result.detail
    assert len(result.stdout) <= 4096 and len(result.stderr) <= 4096
    _contained(result, 5)


def test_disk_bomb_stays_in_private_space() -> None:
    program = "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (8 << 20))\n    i += 1\n" + WRONG
    result = _run(program, timeout=10)
    assert result.status in ("error", "killed")  # no space left on the run's own tmpfs, or the file limit
    _contained(result, 8)


# --- the host's files ---------------------------------------------------------------------------------


@pytest.fixture
def host_targets() -> Iterator[dict[str, str]]:
    """A root-owned 0755 directory with a 0644 canary, a canary in the repository, and paths in the home
    directory and the shared scratch directories that must not come to exist."""
    tag = f"sandbox-escape-{uuid.uuid4().hex}"
    directory = tempfile.mkdtemp(prefix="sandbox-host-")
    os.chmod(directory, 0o755)
    canary, repo_canary = Path(directory, "canary.txt"), REPO / f".{tag}-canary"
    for path in (canary, repo_canary):
        path.write_text("original")
        path.chmod(0o644)
    targets = {
        "dir": directory,
        "canary": str(canary),
        "repo": str(REPO),
        "repo_canary": str(repo_canary),
        "home_file": str(Path.home() / f".{tag}"),
        "tag": tag,
    }
    yield targets
    shutil.rmtree(directory, ignore_errors=True)
    repo_canary.unlink(missing_ok=True)


def _snapshot(targets: dict[str, str]) -> dict[str, object]:
    state: dict[str, object] = {"dir": sorted(os.listdir(targets["dir"])), "repo": (REPO / targets["tag"]).exists()}
    for key in ("canary", "repo_canary"):
        st = os.stat(targets[key])
        state[key] = (Path(targets[key]).read_text(), st.st_mode, st.st_mtime_ns)
    state["home"] = os.path.exists(targets["home_file"])
    state["scratch"] = [os.path.exists(os.path.join(d, targets["tag"])) for d in SCRATCH]
    return state


FS_ATTACK = """
import os, shutil
t = {targets!r}
done = []
def attempt(name, action):
    try:
        action()
        done.append(name)
    except Exception:
        pass
def write(path, text="pwned", mode="w"):
    with open(path, mode) as fh:
        fh.write(text)
attempt("create in dir", lambda: write(os.path.join(t["dir"], "created.txt")))
attempt("modify canary", lambda: write(t["canary"]))
attempt("append canary", lambda: write(t["canary"], mode="a"))
attempt("chmod canary", lambda: os.chmod(t["canary"], 0o777))
attempt("touch canary", lambda: os.utime(t["canary"]))
attempt("symlink write", lambda: (os.symlink(t["canary"], "link"), write("link")))
attempt("hardlink write", lambda: (os.link(t["canary"], "hard"), write("hard")))
attempt("rename canary", lambda: os.rename(t["canary"], t["canary"] + ".moved"))
attempt("delete canary", lambda: os.remove(t["canary"]))
attempt("delete dir", lambda: shutil.rmtree(t["dir"]))
attempt("create in repo", lambda: write(os.path.join(t["repo"], t["tag"])))
attempt("modify repo canary", lambda: write(t["repo_canary"]))
attempt("delete repo canary", lambda: os.remove(t["repo_canary"]))
attempt("create in home", lambda: write(t["home_file"]))
for scratch in {scratch!r}:
    attempt("create in " + scratch, lambda: write(os.path.join(scratch, t["tag"])))
print(done)
"""


def test_writes_and_deletes_outside_the_working_directory(any_mode: str, host_targets: dict[str, str]) -> None:
    before = _snapshot(host_targets)
    program = FS_ATTACK.format(targets=host_targets, scratch=SCRATCH) + WRONG
    result = _run(program, mode=any_mode)
    assert result.status == "failed", result
    assert _snapshot(host_targets) == before
    done = eval(result.stdout)  # what succeeded *inside* the sandbox: at most its private scratch space
    allowed = {f"create in {d}" for d in SCRATCH}
    if any(REPO.is_relative_to(d) for d in SCRATCH):  # a clone under /tmp: its paths are the private scratch there
        allowed |= {"create in repo", "modify repo canary", "delete repo canary"}
    assert set(done) <= allowed, done
    _contained(result, 10)


def test_the_harness_and_the_tests_cannot_be_edited() -> None:
    files = [SUPERVISOR.with_name(name) for name in HELPERS]
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in files]
    program = (
        "import os, sys\n"
        "targets = [m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)]\n"
        "targets += open('/proc/self/cmdline', 'rb').read().decode().split('\\0')\n"
        "targets += [os.path.join(root, f) for root, _, files in os.walk('.') for f in files]\n"
        "for path in targets:\n"
        "    try:\n"
        "        open(path, 'w').write('def add(a, b):\\n    return a + b\\n')\n"
        "    except Exception:\n"
        "        pass\n" + WRONG
    )
    result = _run(program)
    assert result.status == "failed"
    assert [hashlib.sha256(path.read_bytes()).hexdigest() for path in files] == digest
    _contained(result, 10)


# --- secrets, network, other processes ----------------------------------------------------------------


def test_environment_secrets_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-fake-{uuid.uuid4().hex}"
    monkeypatch.setenv("SELFIMPROVE_FAKE_API_KEY", secret)
    program = (
        "import os, glob\n"
        "def leak():\n"
        "    found = [os.environ.get('SELFIMPROVE_FAKE_API_KEY', '')]\n"
        f"    for path in glob.glob('/proc/*/environ') + ['/proc/{os.getpid()}/environ']:\n"
        "        try:\n"
        "            found.append(open(path, 'rb').read().decode('latin-1'))\n"
        "        except OSError:\n"
        "            pass\n"
        "    return '\\n'.join(found)\n"
        "print(leak())\n"
    )
    result = _run(program, f"assert {secret!r} in leak()\n")
    assert result.status == "failed"
    assert secret not in result.stdout + result.stderr + result.detail
    _contained(result, 10)


def test_no_connection_to_a_local_listener() -> None:
    if resolve_isolation(SandboxConfig()).mode not in ("namespaces", "userns"):
        pytest.skip("this host offers no network namespace; the warning and metadata say so")
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        port = server.getsockname()[1]
        program = (
            "import socket\n"
            "def connect():\n"
            f"    with socket.create_connection(('127.0.0.1', {port}), timeout=2) as s:\n"
            "        s.sendall(b'exfiltrated')\n"
            "    return True\n"
        )
        result = _run(program, "assert connect()\n")
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.status == "failed" and "OSError" in result.detail + result.stderr
    assert result.metadata["network"] == "isolated"
    _contained(result, 10)


def test_killing_the_parent_and_neighbours(any_mode: str) -> None:
    program = (
        "import os, signal\n"
        f"for pid in (os.getppid(), {os.getpid()}, {os.getppid()}, 1):\n"
        "    for sig in (signal.SIGTERM, signal.SIGKILL):\n"
        "        try:\n"
        "            os.kill(pid, sig)\n"
        "        except Exception:\n"
        "            pass\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)\n"
        "except Exception:\n"
        "    pass\n" + WRONG
    )
    neighbour = ("import time\ntime.sleep(1.5)\ndef add(a, b):\n    return a + b\n", TESTS)
    cfg = SandboxConfig(isolation=any_mode)  # type: ignore[arg-type]
    killer, survivor = run_many([(program, TESTS), neighbour], config=cfg, workers=2)
    # this process is still alive (we are running), and so is a sandboxed neighbour
    assert survivor.status == "passed", survivor
    _contained(killer, 10)


# --- forging the result message ------------------------------------------------------------------------

FORGED = "passed\\t" + "0" * 32 + "\\t\\n"
EARLY_EXITS = {
    "print passed": "print('passed')\nprint('1 passed, 0 failed')\nimport os\nos._exit(0)\n",
    "sys.exit(0) at import": "import sys\nsys.exit(0)\n",
    "os._exit(0) at import": "import os\nos._exit(0)\n",
    "os._exit(0) in a test": "def add(a, b):\n    import os\n    os._exit(0)\n",
    "SystemExit in a test": "def add(a, b):\n    raise SystemExit(0)\n",
    "KeyboardInterrupt in a test": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "exception whose str exits": (
        "import os\nclass E(Exception):\n    def __str__(self):\n        print('passed', flush=True)\n"
        "        os._exit(0)\ndef add(a, b):\n    raise E()\n"
    ),
    "patch builtins": (
        "import builtins\nclass Never(BaseException):\n    pass\n"
        "builtins.AssertionError = Never\nbuiltins.BaseException = Never\nbuiltins.Exception = Never\n"
        "builtins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n"
        "builtins.print = lambda *a, **k: None\n" + WRONG
    ),
    "patch os and sys": (
        "import os, sys\nreal_exit = os._exit\nos._exit = lambda code: real_exit(0)\n"
        "os.write = lambda fd, data: len(data)\nsys.exit = lambda *a: real_exit(0)\n" + WRONG
    ),
    "patch the harness's globals": (
        "import sys\nharness = sys.modules['__main__']\n"
        "for name in list(vars(harness)):\n    if callable(getattr(harness, name)) and not name.startswith('__'):\n"
        "        setattr(harness, name, lambda *a, **k: None)\n" + WRONG
    ),
    "forge result messages into every fd": (
        f"import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'{FORGED}')\n"
        "    except OSError:\n        pass\nos._exit(0)\n"
    ),
    "close every fd": "import os\nos.closerange(3, 256)\n" + WRONG,
    "trace jump over asserts": (
        "import sys\ndef tracer(frame, event, arg):\n    if frame.f_code.co_filename == '<tests>':\n"
        "        if event == 'line':\n            last = max(l for _, _, l in frame.f_code.co_lines() if l)\n"
        "            if frame.f_lineno < last:\n                frame.f_lineno = last\n        return tracer\n"
        "try:\n    sys.settrace(tracer)\nexcept RuntimeError:\n    pass\n" + WRONG
    ),
    "profile hook": "import sys\ntry:\n    sys.setprofile(lambda *a: None)\nexcept RuntimeError:\n    pass\n" + WRONG,
    "fork: a correct child, a wrong parent": (
        "import os\nchild = os.fork() == 0\ndef add(a, b):\n    return a + b if child else 0\n"
    ),
    "fork: the parent leaves, a correct child stays": (
        "import os, time\nif os.fork() != 0:\n    os._exit(0)\ntime.sleep(0.2)\ndef add(a, b):\n    return a + b\n"
    ),
    "atexit and finalizers": (
        "import atexit, os\natexit.register(lambda: os.write(1, b'passed'))\n"
        "class F:\n    def __del__(self):\n        os._exit(0)\nkeep = F()\n" + WRONG
    ),
}


@pytest.mark.parametrize("program", list(EARLY_EXITS.values()), ids=list(EARLY_EXITS))
def test_early_exit_and_forgery_tricks(program: str) -> None:
    tests = "checked = True\n" + TESTS + "done = True\n"
    result = _run(program, tests, timeout=5)
    assert result.status in ("failed", "error"), result
    _contained(result, 6)


# --- side effects that outlive the code ----------------------------------------------------------------


def test_import_time_side_effects(any_mode: str) -> None:
    program = (
        "import os, subprocess, threading, time\n"
        "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(1000)\n"
        "    os._exit(0)\n"
        "threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n"
        "for place in ('/tmp', '/dev/shm', '.'):\n"
        "    try:\n"
        f"        open(os.path.join(place, 'side-effect-{uuid.uuid4().hex}'), 'w').write('x')\n"
        "    except OSError:\n"
        "        pass\n" + WRONG
    )
    result = _run(program, mode=any_mode, timeout=5)
    assert result.status == "failed", result
    _contained(result, 4)  # did not wait for the sleepers


@pytest.mark.parametrize(
    "program",
    [
        "import threading\nthreading.Thread(target=lambda: [0 for _ in iter(int, 1)]).start()\n" + WRONG,
        "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.3), os._exit(0))).start()\n" + WRONG,
        "import os, threading\n"
        "def spam():\n    while True:\n        for fd in range(3, 64):\n            try:\n"
        f"                os.write(fd, b'{FORGED}')\n            except OSError:\n                pass\n"
        "threading.Thread(target=spam, daemon=True).start()\n" + WRONG,
    ],
    ids=["spinning non-daemon thread", "thread exits the process mid-test", "thread forges result messages"],
)
def test_threads_left_running(program: str) -> None:
    tests = "import time\ntime.sleep(0.6)\n" + TESTS
    result = _run(program, tests, timeout=5)
    assert result.status == "failed", result
    _contained(result, 4)


# --- forging the result message from inside the interpreter --------------------------------------------
# Each of these forged a 'passed' result message when the tests ran in the program's own interpreter: they read
# the harness's nonce and result descriptor from its frames (or from gc alone), or rewrote the harness's
# local holding the tests. The tests now run in another process; the program's process holds neither.

FORGE_FROM_FRAMES = """
import os, sys
def _forge(frame):
    while frame is not None:
        found = frame.f_locals
        if "nonce" in found and "result_fd" in found:
            os.write(found["result_fd"], b"passed\\t" + found["nonce"] + b"\\t\\n")
            os._exit(0)
        frame = frame.f_back
"""
FORGERIES = {
    "frame walk (sys._getframe)": FORGE_FROM_FRAMES + "_forge(sys._getframe())\n" + WRONG,
    "frame walk at call time": FORGE_FROM_FRAMES + "def add(a, b):\n    _forge(sys._getframe())\n    return 0\n",
    "frame walk (inspect.stack)": FORGE_FROM_FRAMES
    + "import inspect\nfor info in inspect.stack():\n    _forge(info.frame)\n"
    + WRONG,
    "frame walk (traceback tb_frame)": FORGE_FROM_FRAMES
    + "try:\n    raise ValueError\nexcept ValueError as e:\n    _forge(e.__traceback__.tb_frame)\n"
    + WRONG,
    "thread": FORGE_FROM_FRAMES
    + "import threading, time\n"
    "def _spy():\n    for _ in range(2000):\n        for f in list(sys._current_frames().values()):\n"
    "            _forge(f)\n        time.sleep(0.001)\n"
    "threading.Thread(target=_spy, daemon=True).start()\n"
    "def add(a, b):\n    time.sleep(0.5)\n    return 0\n",
    "signal handler": FORGE_FROM_FRAMES
    + "import signal, time\nsignal.signal(signal.SIGALRM, lambda s, f: _forge(f))\n"
    "signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)\n"
    "def add(a, b):\n    time.sleep(0.3)\n    return 0\n",
    "gc objects only": (
        "import gc, os\nfor o in gc.get_objects():\n"
        "    if isinstance(o, dict) and isinstance(o.get('nonce'), (str, bytes)):\n"
        "        n = o['nonce'].encode() if isinstance(o['nonce'], str) else o['nonce']\n"
        "        for fd in range(3, 64):\n"
        "            try:\n                os.write(fd, b'passed\\t' + n + b'\\t\\n')\n"
        "            except OSError:\n                pass\n"
        "        os._exit(0)\n" + WRONG
    ),
    "locals rewrite (PyFrame_LocalsToFast)": (
        "import ctypes, sys\nf = sys._getframe()\nwhile f is not None:\n"
        "    for name in ('tests_code', 'tests'):\n"
        "        if name in f.f_locals:\n"
        "            f.f_locals[name] = compile('', '<tests>', 'exec') if name == 'tests_code' else ''\n"
        "            ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(f), ctypes.c_int(0))\n"
        "    f = f.f_back\n" + WRONG
    ),
    "ptrace or read the memory of any other process": (
        "import ctypes, glob, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "def reached():  # called from the tests: the tester runs by then\n"
        "    for pid in [int(p.split('/')[2]) for p in glob.glob('/proc/[0-9]*')]:\n"
        "        if pid != os.getpid() and libc.ptrace(16, pid, 0, 0) == 0:\n            return True\n"
        "        try:\n            open(f'/proc/{pid}/mem', 'rb').close()\n            return pid != os.getpid()\n"
        "        except OSError:\n            pass\n    return False\n"
        "def add(a, b):\n    return a + b if reached() else 0\n"
    ),
    "pidfd_getfd or process_vm_readv on every other process": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "class Iov(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('size', ctypes.c_size_t)]\n"
        "def reached():  # pidfd_open needs no permission; taking a descriptor or reading memory does\n"
        "    buf = ctypes.create_string_buffer(16)\n"
        "    for pid in range(1, 64):\n        if pid == os.getpid():\n            continue\n"
        "        pidfd = libc.syscall(434, pid, 0)\n"
        "        if pidfd >= 0 and any(libc.syscall(438, pidfd, fd, 0) >= 0 for fd in range(16)):\n"
        "            return True\n"
        "        local, remote = Iov(ctypes.cast(buf, ctypes.c_void_p).value, 16), Iov(0x400000, 16)\n"
        "        if libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) > 0:\n"
        "            return True\n    return False\n"
        "def add(a, b):\n    return a + b if reached() else 0\n"
    ),
    "/proc of every process": (
        "import glob, os\nfor path in glob.glob('/proc/[0-9]*/fd/*') + glob.glob('/proc/[0-9]*/mem'):\n"
        "    try:\n        fd = os.open(path, os.O_WRONLY)\n"
        "        os.write(fd, b'passed\\t' + b'0' * 32 + b'\\t\\n')\n    except OSError:\n        pass\n" + WRONG
    ),
}


@pytest.mark.parametrize("program", list(FORGERIES.values()), ids=list(FORGERIES))
def test_result_cannot_be_forged_from_the_programs_interpreter(program: str) -> None:
    result = _run(program, timeout=5)
    assert result.status == "failed" and "AssertionError" in result.detail, result
    _contained(result, 6)


MEMORY_SCAN = """
import ctypes, os, re
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: makes /proc/self/mem ours to read
def scan():
    found = set()
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    for line in open("/proc/self/maps"):
        span, perms = line.split()[:2]
        if perms[0] != "r" or line.rstrip().endswith(("[vvar]", "[vsyscall]")):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        try:
            found.update(re.findall(rb"== '([0-9a-f]{32})'", os.pread(fd, end - start, start)))
        except OSError:
            pass
    return found
def add(a, b):
    found = scan()
    return found.pop().decode() if len(found) == 1 else 0
"""


def test_the_tests_are_never_in_the_programs_memory() -> None:
    """Hidden tests (HumanEval's) stay hidden: the program reads every byte of its own memory, looking for
    the test's secret value. The tests are read by the supervisor only after the program's process
    was forked."""
    secret = uuid.uuid4().hex
    result = _run(MEMORY_SCAN, f"assert add(1, 2) == '{secret}'\n", timeout=20)
    assert result.status == "failed" and "AssertionError" in result.detail, result
    _contained(result, 21)


# --- values that lie about what they are ------------------------------------------------------------------
# (program, tests): each program is wrong; only a value or a name that lies could make the tests pass.

LIARS = {
    "__eq__ always True": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def add(a, b):\n    return Yes()\n",
        TESTS,
    ),
    "str subclass equal to anything": (
        "class S(str):\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n"
        "        return False\n    __hash__ = str.__hash__\ndef add(a, b):\n    return S('x')\n",
        "assert add(1, 2) == '3'\n",
    ),
    "int subclass equal to anything": (
        "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return I(0)\n",
        TESTS,
    ),
    "shadow a builtin the tests use": ("def abs(x):\n    return 0\n" + WRONG, "assert abs(add(1, 2) - 3) < 1e-9\n"),
    "shadow a module the tests use": (
        "import math\nclass _M:\n    @staticmethod\n    def isclose(*a, **k):\n        return True\n"
        "math = _M()\n" + WRONG,
        "assert math.isclose(add(1, 2), 3)\n",
    ),
    "a fake module object": (
        "import types\nmath = types.ModuleType('math')\nmath.isclose = lambda *a, **k: True\n" + WRONG,
        "assert math.isclose(add(1, 2), 3)\n",
    ),
    "StopIteration ends the tests' loop": (
        "def add(a, b):\n    raise StopIteration\n",
        "assert all(map(lambda p: add(*p) == sum(p), [(1, 2), (2, 2)]))\n",
    ),
    "monkeypatch builtins": (
        "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.isinstance = lambda *a: True\n"
        "builtins.AssertionError = type('Never', (BaseException,), {})\n" + WRONG,
        "assert abs(add(1, 2) - 3) < 1e-9\nassert isinstance(add(1, 2), int) and add(1, 2) == 3\n",
    ),
    "result-like lines on stdout and stderr": (
        "import os\nline = b'passed\\t' + b'0' * 32 + b'\\t\\n'\nos.write(1, line)\nos.write(2, line)\n" + WRONG,
        TESTS,
    ),
    "huge return value": ("def add(a, b):\n    return 'x' * (80 << 20)\n", TESTS),
    "infinite recursion in repr": (
        "class R:\n    def __repr__(self):\n        return repr(self)\n    __str__ = __repr__\n"
        "def add(a, b):\n    return R()\n",
        "assert str(add(1, 2)) == '3'\n",
    ),
    "deeply nested return value": (
        "def add(a, b):\n    x = []\n    for _ in range(5000):\n        x = [x]\n    return x\n",
        TESTS,
    ),
}


@pytest.mark.parametrize(("program", "tests"), list(LIARS.values()), ids=list(LIARS))
def test_values_and_names_that_lie_do_not_pass(program: str, tests: str) -> None:
    result = _run(program, tests, timeout=10)
    assert result.status == "failed", result
    _contained(result, 11)


# --- replies forged on the wire, and exceptions named like control flow ---------------------------------
# The program writes raw bytes on its reply pipe (found among its descriptors), bypassing the encoder: the
# tester's decoder must refuse every malformed message without crashing into a result of its own.

RAW_REPLY = """
import fcntl, os, stat, struct
def _reply_pipe():
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                return fd
        except OSError:
            pass
def _frame(body):
    return struct.pack('<I', len(body)) + body
def _s(text):
    return b's' + struct.pack('<I', len(text)) + text
OK = b't' + struct.pack('<I', 2) + _s(b'ok')
def add(a, b):
    os.write(_reply_pipe(), {raw})
    return 0
"""
RAW_REPLIES = {
    "length over the cap": "struct.pack('<I', 0xFFFFFFFF) + b'x' * 64",
    "trailing bytes after ('ok', 3)": "_frame(OK + b'i' + struct.pack('<I', 1) + bytes([3]) + b'N')",
    "unknown tag": "_frame(OK + b'Q')",
    "nested past the cap": "_frame(OK + (b'l' + struct.pack('<I', 1)) * 5000 + b'N')",
    "nested just under the cap": "_frame(OK + (b'l' + struct.pack('<I', 1)) * 899 + b'N')",
    "unknown built-in type name": "_frame(OK + b'y' + struct.pack('<I', 4) + b'evil')",
    "unhashable set member": "_frame(OK + b'S' + struct.pack('<I', 1) + b'l' + struct.pack('<I', 0))",
    "a message cut short": "_frame(OK)[:-1]",
    "a list claiming 4 billion items": "_frame(OK + b'l' + struct.pack('<I', 0xFFFFFFFF) + b'N')",
}
NAMED_LIKE_CONTROL_FLOW = {
    name: (f"class {name}(Exception):\n    pass\ndef add(a, b):\n    raise {name}\n", tests)
    for name, tests in (
        ("KeyboardInterrupt", TESTS),
        ("SystemExit", TESTS),
        ("GeneratorExit", TESTS),
        ("StopIteration", "assert all(map(lambda p: add(*p) == sum(p), [(1, 2), (2, 2)]))\n"),
        ("StopAsyncIteration", TESTS),
    )
}


@pytest.mark.parametrize("raw", list(RAW_REPLIES.values()), ids=list(RAW_REPLIES))
def test_malformed_replies_on_the_wire_do_not_pass(raw: str) -> None:
    result = _run(RAW_REPLY.format(raw=raw), timeout=10)
    assert result.status == "failed", result
    _contained(result, 11)


@pytest.mark.parametrize(
    ("program", "tests"), list(NAMED_LIKE_CONTROL_FLOW.values()), ids=list(NAMED_LIKE_CONTROL_FLOW)
)
def test_exceptions_named_like_control_flow_stay_errors(program: str, tests: str) -> None:
    """An exception class of the program named like SystemExit or StopIteration arrives as CandidateError:
    it can neither end the tester as a clean exit nor end the tests' loop early."""
    result = _run(program, tests, timeout=10)
    assert result.status == "failed" and "CandidateError" in result.detail, result
    _contained(result, 11)


# The program names which module the tester imports for a name the tests use. A `__main__` is a command
# line: `typer.__main__` read the tester's argv, whose paths lie in the program's writable working
# directory, and tried to import the file the program had written there as Python (it stopped only because
# the file lacks a .py suffix). Scripts and private modules (the tester's own `_tester`) are never lent.
LEND_A_SCRIPT = """
import os, types
os.chmod(os.getcwd(), 0o755)
for name in ('.payload', '.tests'):
    with open(name, 'w') as fh:
        fh.write('import os\\nos._exit(0)\\n')
    os.chmod(name, 0o644)
add = types.ModuleType('add')
add.__name__ = {module!r}
"""


@pytest.mark.parametrize("module", ["typer.__main__", "unittest.__main__", "_tester", "numpy._core"])
def test_scripts_and_private_modules_are_never_imported_for_the_program(module: str) -> None:
    result = _run(LEND_A_SCRIPT.format(module=module), timeout=10)
    assert result.status == "failed" and "NameError: name 'add' is not defined" in result.detail, result
    _contained(result, 11)


# --- the host's unix sockets --------------------------------------------------------------------------


@contextmanager
def _host_socket(kind: int) -> Iterator[tuple[socket.socket, str]]:
    """A world-writable unix socket of `kind` bound on the host filesystem, in a folder of the repository that
    is removed afterwards: (the bound socket, its path)."""
    folder = Path(tempfile.mkdtemp(prefix=".sandbox-sock-", dir=REPO))
    try:
        folder.chmod(0o755)
        path = str(folder / "s")
        with socket.socket(socket.AF_UNIX, kind) as server:
            server.bind(path)
            os.chmod(path, 0o777)
            yield server, path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_host_unix_socket_is_unreachable(any_mode: str) -> None:
    """A world-writable socket on the host filesystem (think of the D-Bus system bus): the network
    namespace does not cover it and a read-only mount does not stop connect()."""
    with _host_socket(socket.SOCK_STREAM) as (server, path):
        server.listen(1)
        server.settimeout(0.5)
        program = (
            "import socket\ndef add(a, b):\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"    s.connect({path!r})\n    s.sendall(b'exfiltrated')\n    return a + b\n"
        )
        result = _run(program, mode=any_mode)
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.status == "failed" and "PermissionError" in result.detail, result
    _contained(result, 10)


def test_host_datagram_socket_is_unreachable_through_a_socketpair(any_mode: str) -> None:
    """socket(AF_UNIX) refused is not enough: a datagram pair from socketpair() can sendto() any path, so a
    world-writable datagram socket on the host (think of /dev/log or journald's socket) received bytes.
    Datagram and raw pairs are refused too; a stream pair still works (multiprocessing needs it)."""
    with _host_socket(socket.SOCK_DGRAM) as (server, path):
        server.setblocking(False)
        program = (
            "import socket\nleaked = []\n"
            "for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC):\n"
            "    try:\n        x, y = socket.socketpair(socket.AF_UNIX, kind)\n"
            f"        x.sendto(b'exfiltrated', {path!r})\n        leaked.append(kind)\n"
            "    except OSError:\n        pass\n"
            "a, b = socket.socketpair()\na.sendall(b'ok')\nassert b.recv(2) == b'ok'\n"
            "def add(a, b):\n    return 0 if leaked else a + b\n"
        )
        result = _run(program, mode=any_mode)
        with pytest.raises(BlockingIOError):
            server.recv(64)
    assert result.passed, result  # every datagram pair refused, and the stream pair worked
    uid = result.metadata["uid"]
    assert uid == os.getuid() or _uid_processes(uid) == []


# --- memory of a whole run ------------------------------------------------------------------------------

FORKED_MEMORY = """
import os
def eat():
    block = b"x" * ({mb} << 20)  # written, so resident
    return len(block)
children = []
for _ in range({forks}):
    pid = os.fork()
    if pid == 0:
        try:
            eat()
            os._exit(0)
        except BaseException:
            os._exit(1)
    children.append(pid)
ok = all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in children)
def add(a, b):
    return a + b if ok else 0
"""


def test_memory_bounds_the_whole_run() -> None:
    """Four processes of 300 MiB each, under memory_mb=512: each fits the per-process limit, the run does
    not. One process of 300 MiB at a time does."""
    if cgroup.parent() is None:
        pytest.skip("no writable memory cgroup here; the per-process fallback is tested below")
    together = _run(FORKED_MEMORY.format(mb=300, forks=4), timeout=20, memory_mb=512)
    assert together.status in ("failed", "killed"), together
    _contained(together, 21)
    alone = _run(FORKED_MEMORY.format(mb=300, forks=1), timeout=20, memory_mb=512)
    assert alone.passed, alone


def test_files_in_the_private_tmpfs_count_as_the_runs_memory() -> None:
    """tmpfs lives in RAM, outside any RLIMIT_AS: 240 MiB of files across /tmp, /var/tmp, /dev/shm and the
    working directory (each within disk_mb) must not fit a run of memory_mb=160."""
    if cgroup.parent() is None:
        pytest.skip("no writable memory cgroup here")
    program = (
        "import os\nwritten = 0\nfor folder in ('/tmp', '/var/tmp', '/dev/shm', os.getcwd()):\n"
        "    for i in range(4):\n        try:\n            with open(f'{folder}/f{i}', 'wb') as fh:\n"
        "                fh.write(b'x' * (15 << 20))\n            written += 15\n"
        "        except OSError:\n            pass\ndef add(a, b):\n    return a + b if written == 240 else 0\n"
    )
    result = _run(program, timeout=20, memory_mb=160)
    assert result.status in ("failed", "killed"), result
    _contained(result, 21)


def test_memory_without_a_cgroup_divides_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no cgroup can be made, processes x per-process limit stays within memory_mb."""
    monkeypatch.setattr(cgroup, "create", lambda memory_bytes: None)
    result = _run(FORKED_MEMORY.format(mb=300, forks=4), timeout=20, memory_mb=512)
    assert result.status in ("failed", "killed", "error"), result  # error: the third fork is refused
    assert result.metadata["memory"].startswith("per-process: 2 processes x 256 MiB")
    _contained(result, 21)


# --- an environment under /tmp ----------------------------------------------------------------------------


def test_a_virtualenv_under_tmp_stays_importable() -> None:
    """The private tmpfs over /tmp must not hide the interpreter's own site-packages living there."""
    root = Path(tempfile.mkdtemp(prefix="sandbox-venv-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True, timeout=60)
        python = root / "env" / "bin" / "python"
        site = subprocess.run(
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        module = f"tmp_env_probe_{uuid.uuid4().hex[:8]}"
        Path(site, f"{module}.py").write_text("ANSWER = 42\n")
        check = (
            "import warnings\nfrom selfimprove.sandbox import run_tests\nwarnings.simplefilter('ignore')\n"
            f"r = run_tests('import {module}\\n', 'assert {module}.ANSWER == 42\\n')\n"
            "print(r.status, r.detail)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        out = subprocess.run([str(python), "-c", check], capture_output=True, text=True, env=env, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert out.stdout.startswith("passed"), out.stdout + out.stderr
