"""The in-child half of the sandbox: a trusted supervisor that isolates the run and forks its two
processes, the candidate (runs the model's program) and the tester (runs the tests, writes the result message).

`runner.py` starts this file as `python -I -B -c "...import _supervisor; _supervisor.main()" PAYLOAD TESTS
STATUS_FD` (isolation.START), as root (or as
root of a fresh user namespace), inside new PID, mount and network namespaces when the host allows them.
It uses the standard library only and never imports `selfimprove`; its helpers (_wire, _candidate,
_tester, _seccomp) are loaded from this folder before anything untrusted runs.

The supervisor (trusted, never runs model code):
  1. joins the run's memory cgroup, if the parent made one; opens the tests file and deletes both files;
  2. with a mount namespace: remounts every mount read-only and nosuid, puts private tmpfs on /tmp,
     /var/tmp, /dev/shm and the working directory, re-exposes read-only the interpreter's own paths that
     lay under them (a virtualenv in /tmp), and hides non-traversable directories (e.g. /root);
  3. forks the candidate with the program only (the tests are read after that fork, so they are never
     in its memory), then forks the tester with the tests and the nonce; the two talk over two pipes;
  4. waits for the tester, ends the candidate, and relays the tester's exit status and result message to
     the parent on a pipe only the supervisor holds (or the candidate's signal, when it was killed by
     a limit and the tests did not pass).

Each child sets resource limits, drops to its own unprivileged uid (or drops all capabilities), refuses
unix sockets (_seccomp.py), and the tester makes itself non-dumpable, so the candidate cannot trace it,
read its memory or signal it (where uids differ). See _tester.py for what the result message rests on.
"""

from __future__ import annotations

import ctypes
import gc
import marshal
import os
import resource
import sys
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would slow every run's start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    Payload = dict[str, Any]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
PR_CAPBSET_DROP, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 24, 4, 38
LINUX = sys.platform.startswith("linux")  # elsewhere only mode 'none' exists: limits, best effort
RESULT_CAP = 65536
CANDIDATE_GRACE = 0.5  # seconds a candidate may take to end by itself after the tester failed

_libc = ctypes.CDLL(None, use_errno=True)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _candidate  # noqa: E402
import _tester  # noqa: E402
import _seccomp  # noqa: E402
import _wire  # noqa: E402

del sys.path[0]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _encode(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    ret = _libc.mount(_encode(source), _encode(target), _encode(fstype), ctypes.c_ulong(flags), _encode(data))
    _check(ret, f"mount {target}")


def _mount_table() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) from /proc/self/mountinfo, parents first."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = _unescape(fields[4])
            out.append((point, set(fields[5].split(","))))
    return out


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes ("\\040")."""
    if "\\" not in field:
        return field
    parts = field.split("\\")
    return parts[0] + "".join(chr(int(p[:3], 8)) + p[3:] for p in parts[1:])


def _remount_readonly() -> None:
    """Make every mount read-only and nosuid, keeping the flags a user namespace may not change."""
    for point, opts in _mount_table():
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
        flags |= MS_NODEV if "nodev" in opts else 0
        flags |= MS_NOEXEC if "noexec" in opts else 0
        flags |= MS_NODIRATIME if "nodiratime" in opts else 0
        if "noatime" in opts:
            flags |= MS_NOATIME
        elif "relatime" in opts:
            flags |= MS_RELATIME
        else:
            flags |= MS_STRICTATIME
        try:
            _mount(None, point, None, flags)
        except OSError:
            if os.path.exists(point) and not _is_readonly(point):
                raise


def _is_readonly(path: str) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def _blocked_ancestor(path: str) -> str | None:
    """The first ancestor of `path` that others may not traverse (mode lacks o+x), or None."""
    current = "/"
    for part in path.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _hide_and_expose(hide: list[str], needed: list[str]) -> None:
    """Cover each directory in `hide` (and each non-traversable ancestor of a needed path) with an empty
    tmpfs, then bind the needed paths back in, so the unprivileged children can import the standard library
    and site-packages but cannot list or read the rest (e.g. root's home with its tokens)."""
    roots: dict[str, list[str]] = {h: [] for h in hide if os.path.isdir(h)}
    for path in needed:
        root = next((h for h in roots if path.startswith(h + "/")), None) or _blocked_ancestor(path)
        if root is not None:
            roots.setdefault(root, []).append(path)
    for root, paths in sorted(roots.items()):
        handles = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _outermost(paths)]
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, fd in handles:
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)


def _outermost(paths: list[str]) -> list[str]:
    """The paths not inside another of them."""
    return [p for p in sorted(set(paths)) if not any(p.startswith(q + "/") for q in paths if q != p)]


def _interpreter_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(os.path.realpath(p) for p in paths)


def _isolate_filesystem(payload: Payload) -> None:
    """Inside the run's own mount namespace: the host becomes read-only; writable space is tmpfs only."""
    workdir, owner, size = payload["workdir"], payload["owner"], payload["disk_mb"]
    needed = _interpreter_paths()
    _hide_and_expose(payload["hide"], needed)
    _remount_readonly()
    for scratch in SCRATCH:
        if os.path.isdir(scratch) and not os.path.islink(scratch):
            inside = [p for p in needed if p.startswith(scratch + "/")]
            kept = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _outermost(inside)]
            _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}m")
            for path, fd in kept:  # e.g. a virtualenv under /tmp: back in, read-only
                os.makedirs(path, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
                os.close(fd)
    os.makedirs(workdir, exist_ok=True)
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,size={size}m,uid={owner},gid={owner}")


def _set_limits(limits: dict[str, int]) -> None:
    """Hard limits equal to soft ones, set while still privileged so the code cannot raise them."""
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the soft limit, SIGKILL 1 s later
    for name, value in (
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_NPROC", limits["max_processes"]),
        ("RLIMIT_FSIZE", limits["max_file_bytes"]),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NOFILE", 256),
    ):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError):
            if LINUX:  # e.g. macOS refuses RLIMIT_AS; on Linux a refused limit is a setup error
                raise


def _drop_capabilities() -> None:
    """Root of a user namespace keeps the host user's uid, so drop every capability instead (and the
    bounding set, so that exec cannot give them back); read-only mounts then cannot be remounted."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    _check(_libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


def _drop_privileges(payload: Payload, uid: int) -> None:
    """Become `uid`, fresh per run and per process (so process limits and kill(-1) only reach this run's
    own processes) or, in a user namespace, lose all capabilities. No exec may regain privileges."""
    if payload["drop"] == "uid":
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    elif payload["drop"] == "caps":
        _drop_capabilities()
    if LINUX:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _open_blocked_imports() -> dict[str, int]:
    """uid mode has no mount namespace to re-expose the interpreter, so a Python installed under a
    directory the run's uid cannot traverse (e.g. /root) would leave it unable to import anything new.
    Open such sys.path entries now, while still root, as handles to reach later via /proc/self/fd/N."""
    handles = {}
    for path in sys.path:
        if path and os.path.isdir(path) and _blocked_ancestor(os.path.realpath(path)):
            handles[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
    return handles


def _reroute_imports(handles: dict[str, int]) -> None:
    """After dropping privileges: point sys.path and package __path__s at the open handles."""
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")  # /proc/self/fd must be ours

    def swap(path: str) -> str:
        for root, fd in handles.items():
            if path == root or path.startswith(root + "/"):
                return f"/proc/self/fd/{fd}{path[len(root) :]}"
        return path

    sys.path[:] = [swap(p) for p in sys.path]
    for module in list(sys.modules.values()):
        paths = getattr(module, "__path__", None)
        if isinstance(paths, list):
            paths[:] = [swap(p) for p in paths]
    sys.path_importer_cache.clear()


def _refuse_tracing(event: str, args: tuple[object, ...]) -> None:
    """Audit hook (cannot be removed once added): a trace function could jump over failing asserts, and
    swapping this hook's code object would undo that."""
    if event in ("sys.settrace", "sys.setprofile") or (event == "object.__setattr__" and args[0] is _refuse_tracing):
        raise RuntimeError("sandbox: tracing and profiling hooks are disabled")


def _enter(payload: Payload, uid: int, workdir: str, keep: tuple[int, ...]) -> None:
    """What both children do first: close every inherited descriptor but `keep` and the standard
    streams, then limits, the drop to `uid`, and the seccomp filter."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 12)
    os.chdir(workdir)
    reroute = payload["drop"] == "uid" and not payload["mount_namespace"]
    handles = _open_blocked_imports() if reroute else {}
    _set_limits(payload["limits"])
    _drop_privileges(payload, uid)
    if handles:
        _reroute_imports(handles)
    if LINUX and _seccomp.SUPPORTED:
        _seccomp.block_unix_sockets(_libc)


def _child(setup: Callable[[], None], run: Callable[[], NoReturn], fail: Callable[[str], object]) -> NoReturn:
    """In a fresh fork: `setup` (trusted; a failure goes to `fail` as a setup error), then `run`, which
    never returns."""
    try:
        setup()
    except Exception as exc:  # noqa: BLE001 - any setup failure; no untrusted code has run yet
        fail(f"{type(exc).__name__}: {exc}")
        os._exit(1)
    run()


def _kill_uid(uid: int) -> None:
    """Without a PID namespace, kill everything left running under the run's uid: a process of that uid
    calling kill(-1) reaches exactly those (and never itself)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(1000):
                os.kill(-1, 9)
        except BaseException:  # noqa: BLE001, S110 - the killer must reach _exit, whatever happens
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _fork(body: Callable[[], NoReturn]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(1)
    return pid


def _supervise(payload: Payload, tests_fd: int, status_fd: int) -> dict[str, object]:
    """Fork the candidate, read the tests, fork the tester; wait for the tester and describe how it ended."""
    to_candidate, from_tester = os.pipe()  # (read, write) for requests
    from_candidate, to_tester = os.pipe()  # (read, write) for replies
    candidate_fds = (to_candidate, to_tester)

    def candidate() -> NoReturn:
        os.close(status_fd)  # before anything: this fd reaches the parent
        _child(
            lambda: _enter(payload, payload["owner"], payload["workdir"], candidate_fds),
            lambda: _candidate.serve(payload["program"], to_candidate, to_tester, _refuse_tracing),
            lambda error: _wire.send(to_tester, _wire.encode(("raise", "SetupError", error, "setup"), None)),
        )

    gc.freeze()  # the children's collections then leave the shared pages alone (fewer copy-on-write faults)
    candidate_pid = _fork(candidate)
    os.close(to_candidate)
    os.close(to_tester)
    with os.fdopen(tests_fd, "rb") as fh:
        secret = marshal.load(fh)  # read only now: never in the candidate's memory
    result_r, result_w = os.pipe()
    tester_fds = (from_candidate, from_tester, result_w)

    def tester() -> NoReturn:
        os.close(status_fd)
        _child(
            lambda: _enter(payload, payload["tester"], "/", tester_fds),
            lambda: _run_tester(secret, from_candidate, from_tester, result_w, payload),
            lambda error: os.write(result_w, b"error\tsetup\t" + error.encode("unicode_escape") + b"\n"),
        )

    tester_pid = _fork(tester)
    for fd in (from_candidate, from_tester, result_w):
        os.close(fd)
    _, status = os.waitpid(tester_pid, 0)
    os.set_blocking(result_r, False)
    try:
        result = os.read(result_r, RESULT_CAP)
    except BlockingIOError:
        result = b""
    os.close(result_r)
    candidate_signal = _end_candidate(candidate_pid, waited=not result.startswith(b"passed\t"))
    if payload["drop"] == "uid" and not payload["pid_namespace"]:
        _kill_uid(payload["owner"])
        _kill_uid(payload["tester"])
    report: dict[str, object] = {"result": result}
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    elif candidate_signal is not None:
        report["signal"] = candidate_signal
    else:
        report["exit_code"] = os.waitstatus_to_exitcode(status)
    return report


def _run_tester(secret: dict[str, str], inbox: int, outbox: int, result_fd: int, payload: Payload) -> NoReturn:
    if LINUX and not (payload["drop"] == "uid" and not payload["mount_namespace"]):
        # not traceable, no /proc/PID/mem or fd for the candidate (uid mode: the uids differ already)
        _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    _tester.tester(secret["tests"], secret["nonce"].encode("ascii"), inbox, outbox, result_fd)


def _end_candidate(pid: int, waited: bool) -> int | None:
    """Kill the candidate if it still runs; its signal if a limit killed it before that (looked for
    only when the tests did not pass: then it may be dying of a limit, so give it a moment)."""
    deadline = time.monotonic() + (CANDIDATE_GRACE if waited else 0.0)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WTERMSIG(status) if waited and os.WIFSIGNALED(status) else None
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def main() -> None:
    payload_path, tests_path, status_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.set_inheritable(status_fd, False)
    if LINUX:
        _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")  # the children may not ptrace us
    try:
        with open(payload_path, "rb") as fh:
            payload = marshal.load(fh)  # written by our own parent; marshal is built in (fast start-up)
        if payload["cgroup"]:  # first: every process of the run is then counted in its memory limit
            with open(os.path.join(payload["cgroup"], "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
        tests_fd = os.open(tests_path, os.O_RDONLY | os.O_CLOEXEC)
        os.unlink(payload_path)
        os.unlink(tests_path)
        sys.path[:] = [p for p in sys.path if os.path.exists(p)]  # none the run could create later
        if payload["mount_namespace"]:
            _isolate_filesystem(payload)
        elif payload["drop"] == "uid":
            os.chown(payload["workdir"], payload["owner"], payload["owner"])
        report = _supervise(payload, tests_fd, status_fd)
    except Exception as exc:  # noqa: BLE001 - setup failed before any untrusted code ran: report it
        report = {"setup_error": f"{type(exc).__name__}: {exc}"}
    os.write(status_fd, marshal.dumps(report))


if __name__ == "__main__":
    main()
