"""A seccomp filter that keeps the run away from the host's unix sockets.

A network namespace does not cover path-based unix sockets (the D-Bus system bus, a container runtime's
socket, any world-writable socket on the host filesystem), and a read-only mount does not stop connect().
The filter makes socket(AF_UNIX, ...) fail with EACCES, so no unix socket can be made to connect with.
socketpair() works for SOCK_STREAM only (a connected stream pair reaches nothing outside: connect() and
sendto() with an address fail on it), so multiprocessing pipes and asyncio still work; a datagram pair
(SOCK_DGRAM, or SOCK_RAW, which unix sockets turn into SOCK_DGRAM) is refused, because a datagram socket
can sendto() any path or connect() again, e.g. to the host's /dev/log or journald socket.
io_uring_setup is refused as well (io_uring can open sockets without the socket syscall), and so is any
syscall of another ABI (x32, or 32-bit int 0x80 calls on x86-64), which the filter could not read.

Fourteen BPF instructions, written by hand: the Python bindings of libseccomp need the C library and a
compiled extension, a dependency too large for one rule. Installed after PR_SET_NO_NEW_PRIVS; inherited
by every child. Standard library only (loaded by _supervisor.py).
"""

from __future__ import annotations

import ctypes
import errno
import os

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
# BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_JMP|BPF_JGE|BPF_K, BPF_ALU|BPF_AND|BPF_K, BPF_RET|BPF_K
LD_ABS, JEQ, JGE, AND, RET = 0x20, 0x15, 0x35, 0x54, 0x06
AF_UNIX, SOCK_STREAM, SOCK_TYPE_MASK = 1, 1, 0xF  # the mask drops SOCK_NONBLOCK and SOCK_CLOEXEC
X32_BIT = 0x40000000
# machine -> (AUDIT_ARCH_*, socket, socketpair, io_uring_setup) syscall numbers
ARCHES = {"x86_64": (0xC000003E, 41, 53, 425), "aarch64": (0xC00000B7, 198, 199, 425)}
SUPPORTED = os.uname().machine in ARCHES


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def program() -> list[tuple[int, int, int, int]]:
    """The filter for this machine, as (code, jump if true, jump if false, constant)."""
    arch, socket_nr, socketpair_nr, io_uring_nr = ARCHES[os.uname().machine]
    deny = RET_ERRNO | errno.EACCES
    return [
        (LD_ABS, 0, 0, 4),  # 0: seccomp_data.arch
        (JEQ, 0, 11, arch),  # 1: another ABI -> 13 (deny)
        (LD_ABS, 0, 0, 0),  # 2: seccomp_data.nr
        (JGE, 9, 0, X32_BIT),  # 3: x32 -> 13
        (JEQ, 8, 0, io_uring_nr),  # 4: io_uring_setup -> 13
        (JEQ, 1, 0, socket_nr),  # 5: socket -> 7
        (JEQ, 2, 5, socketpair_nr),  # 6: socketpair -> 9; anything else -> 12 (allow)
        (LD_ABS, 0, 0, 16),  # 7: low 32 bits of args[0], the domain
        (JEQ, 4, 3, AF_UNIX),  # 8: AF_UNIX -> 13, else -> 12
        (LD_ABS, 0, 0, 24),  # 9: low 32 bits of args[1], the type
        (AND, 0, 0, SOCK_TYPE_MASK),  # 10
        (JEQ, 0, 1, SOCK_STREAM),  # 11: a stream pair -> 12, else -> 13
        (RET, 0, 0, RET_ALLOW),  # 12
        (RET, 0, 0, deny),  # 13
    ]


def block_unix_sockets(libc: ctypes.CDLL) -> None:
    """Install the filter on this process (and all it starts). Needs no-new-privs already set."""
    rows = program()
    table = (_Instruction * len(rows))(*(_Instruction(*row) for row in rows))
    prog = _Program(len(rows), table)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {errno.errorcode.get(err, err)}")
