"""The in-child half of the sandbox: a trusted supervisor that isolates the run, and the worker it forks.

`runner.py` starts this file as `python -I -B _supervisor.py PAYLOAD STATUS_FD`, as root (or as root of a
fresh user namespace), inside new PID, mount and network namespaces when the host allows them. It uses
the standard library only and never imports `selfimprove`: untrusted code runs in the worker, a fork of
this interpreter, so nothing of the package must be reachable or patchable from there.

The supervisor (trusted, never runs model code):
  1. reads the payload file and deletes it, so the code can neither read nor edit the tests on disk;
  2. with a mount namespace: remounts every mount read-only and nosuid, puts private tmpfs on /tmp,
     /var/tmp, /dev/shm and the working directory, and hides non-traversable directories (e.g. /root)
     under a tmpfs, re-exposing only the interpreter's own paths read-only;
  3. forks the worker, waits for it, relays its exit status and its verdict bytes to the parent on a
     pipe only the supervisor holds, and (without a PID namespace) kills whatever the run left behind.

The worker sets resource limits, drops to the run's unprivileged uid (or drops all capabilities), then
executes program and tests. Its verdict line carries the per-run nonce, which exists only in the
worker's memory (the payload file is gone before the worker starts; never in an fd or the environment),
and is written after the tests returned, using only functions captured before the program ran; the
parent also requires a single message and exit code 0. See verdict.py for what the parent checks.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import sys
import types

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would slow every run's start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn

    Payload = dict[str, Any]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
PR_CAPBSET_DROP, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 24, 4, 38
LINUX = sys.platform.startswith("linux")  # elsewhere only mode 'none' exists: limits, best effort
VERDICT_CAP = 65536
ERROR_CAP = 2000

_libc = ctypes.CDLL(None, use_errno=True)


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
    tmpfs, then bind the needed paths back in, so the unprivileged worker can import the standard library
    and site-packages but cannot list or read the rest (e.g. root's home with its tokens)."""
    roots: dict[str, list[str]] = {h: [] for h in hide if os.path.isdir(h)}
    for path in needed:
        root = next((h for h in roots if path.startswith(h + "/")), None) or _blocked_ancestor(path)
        if root is not None:
            roots.setdefault(root, []).append(path)
    for root, paths in sorted(roots.items()):
        kept = [p for p in sorted(set(paths)) if not any(p.startswith(q + "/") for q in paths if q != p)]
        handles = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in kept]
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, fd in handles:
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)


def _interpreter_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(os.path.realpath(p) for p in paths)


def _isolate_filesystem(payload: Payload) -> None:
    """Inside the run's own mount namespace: the host becomes read-only; writable space is tmpfs only."""
    workdir, owner, size = payload["workdir"], payload["owner"], payload["disk_mb"]
    _hide_and_expose(payload["hide"], _interpreter_paths())
    _remount_readonly()
    for scratch in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(scratch) and not os.path.islink(scratch):
            _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}m")
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


def _drop_privileges(payload: Payload) -> None:
    """Become the run's own unprivileged uid (fresh per run, so process limits and kill(-1) only reach
    this run) or, in a user namespace, lose all capabilities. No exec may regain privileges."""
    if payload["drop"] == "uid":
        uid = payload["owner"]
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


def _run_untrusted(program: str, tests: str, nonce: bytes, verdict_fd: int) -> NoReturn:
    """Run program then tests in one fresh module; write the verdict; never return.

    Everything used after the program starts is captured first as a local, so patching builtins, `os`,
    `sys` or this module's globals changes nothing here. Any path other than the tests returning normally
    ends in a non-passed verdict or in no verdict at all (which the parent counts as failed)."""
    write, exit_, getpid, exec_, compile_ = os.write, os._exit, os.getpid, exec, compile
    base_exc, stdout, stderr, me = BaseException, sys.__stdout__, sys.__stderr__, getpid()

    def flush() -> None:
        for stream in (stdout, stderr):
            try:
                stream.flush()  # type: ignore[union-attr]  # None or broken: the except covers both
            except base_exc:
                pass

    def report(status: str, phase: str, exc: BaseException) -> NoReturn:
        """Failure path only, so it may use things the program could have patched: at worst the
        verdict goes missing, which also counts as failed."""
        flush()
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CAP].encode("unicode_escape")
        if getpid() == me:
            write(verdict_fd, status.encode() + b"\t" + phase.encode() + b"\t" + error + b"\n")
        _print_traceback(exc)
        exit_(1)

    try:
        program_code = compile_(program, "<program>", "exec", dont_inherit=True, optimize=0)
        tests_code = compile_(tests, "<tests>", "exec", dont_inherit=True, optimize=0)
    except base_exc as exc:
        report("error", "compile", exc)
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    sys.argv = ["solution.py"]
    sys.addaudithook(_refuse_tracing)
    try:
        exec_(program_code, module.__dict__)
    except base_exc as exc:
        report("error", "program", exc)
    try:
        exec_(tests_code, module.__dict__)
    except base_exc as exc:
        report("failed", "tests", exc)
    flush()
    if getpid() != me:  # a fork made by the program reached here: it has no say
        exit_(1)
    write(verdict_fd, b"passed\t" + nonce + b"\t\n")
    exit_(0)


def _print_traceback(exc: BaseException) -> None:
    import traceback  # only on the failure path: keeps the common start-up small

    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip this file's frame
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    os.write(2, text[-ERROR_CAP:].encode("utf-8", "replace"))


def _worker(payload: Payload, verdict_fd: int, status_fd: int) -> NoReturn:
    os.close(status_fd)
    try:
        os.set_blocking(verdict_fd, False)  # a flooded channel must fail the write, not hang it
        os.chdir(payload["workdir"])
        reroute = payload["drop"] == "uid" and not payload["mount_namespace"]
        handles = _open_blocked_imports() if reroute else {}
        _set_limits(payload["limits"])
        _drop_privileges(payload)
        if handles:
            _reroute_imports(handles)
    except Exception as exc:  # noqa: BLE001 - any setup failure; no untrusted code has run yet
        error = f"{type(exc).__name__}: {exc}".encode("unicode_escape")
        os.write(verdict_fd, b"error\tsetup\t" + error + b"\n")
        os._exit(1)
    _run_untrusted(payload["program"], payload["tests"], payload["nonce"].encode("ascii"), verdict_fd)


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


def _supervise(payload: Payload, status_fd: int) -> dict[str, object]:
    """Fork the worker, wait for it, and describe how it ended."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            _worker(payload, write_end, status_fd)
        finally:
            os._exit(1)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    os.set_blocking(read_end, False)
    try:
        verdict = os.read(read_end, VERDICT_CAP)
    except BlockingIOError:
        verdict = b""
    if payload["drop"] == "uid" and not payload["pid_namespace"]:
        _kill_uid(payload["owner"])
    report: dict[str, object] = {"verdict": verdict}
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit_code"] = os.waitstatus_to_exitcode(status)
    return report


def main() -> None:
    payload_path, status_fd = sys.argv[1], int(sys.argv[2])
    os.set_inheritable(status_fd, False)
    if LINUX:
        _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")  # the worker may not ptrace us
    try:
        with open(payload_path, "rb") as fh:
            payload = marshal.load(fh)  # written by our own parent; marshal is built in (fast start-up)
        os.unlink(payload_path)
        if payload["mount_namespace"]:
            _isolate_filesystem(payload)
        elif payload["drop"] == "uid":
            os.chown(payload["workdir"], payload["owner"], payload["owner"])
        report = _supervise(payload, status_fd)
    except Exception as exc:  # noqa: BLE001 - setup failed before any untrusted code ran: report it
        report = {"setup_error": f"{type(exc).__name__}: {exc}"}
    os.write(status_fd, marshal.dumps(report))


if __name__ == "__main__":
    main()
