"""The tester's process: run the tests (trusted dataset code) against the candidate across a process
boundary, and write the result message.

The candidate's program runs in another process, under another uid where there is one, and this process
is not dumpable, so the program can neither read nor write this process's memory, nor trace it; it shares
no file the tester reads. Each top-level name of the program appears here as a `Remote` (small scalars
as their value): calling it sends (handle, arguments) to the candidate and decodes the reply with
_wire.py, which builds only exact built-in types. So every comparison in the tests runs here, on plain
data, with this interpreter's builtins:

- an object that is not plain data stays in the candidate as a handle; here it equals only itself (a
  forged __eq__ never runs), orders with nothing, and its len/str/iteration/attributes come back as plain
  data (the candidate could have returned that data directly: no new power);
- the program's names never shadow a builtin or a standard-library module the tests use (`abs`, `math`),
  unless the tests import that name from `solution` on purpose (MBPP task 126 defines `sum`);
- names the program bound to modules are imported here by their name, from this interpreter's read-only
  paths, never taken from the candidate (a standard-library name only as that very module; never a
  `__main__` script or a private module, whose import would run a command line here);
- an exception of the candidate comes back as its type name and message, raised here as the built-in
  exception of that name (so tests that expect a ValueError still work), else as CandidateError; a
  StopIteration from a call is a CandidateError, so it cannot end the tests' own loops early;
- a candidate that dies, hangs, floods or breaks the protocol makes the call raise (or time out).

Not carried: functions or objects of the tests as arguments (TypeError), and the program's changes to
its arguments (it works on copies). No HumanEval or MBPP test needs either.

Standard library only (loaded by _supervisor.py).
"""

from __future__ import annotations

import builtins
import importlib
import os
import sys
import types

import _wire  # type: ignore[import-not-found]  # loaded by _supervisor.py from this folder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

ERROR_CAP = _wire.ERROR_CAP
# Exceptions that mean control flow, not an error of the program: never raised on the candidate's behalf.
NOT_RAISED = (StopIteration, StopAsyncIteration, GeneratorExit, KeyboardInterrupt, SystemExit)


class CandidateError(Exception):
    """The candidate raised something that is not a built-in exception, died, or broke the protocol."""


class Link:
    """The tester's end of the two pipes to the candidate."""

    def __init__(self, inbox: int, outbox: int) -> None:
        self.inbox, self.outbox, self.broken = inbox, outbox, ""

    def receive(self) -> tuple[Any, ...]:
        if self.broken:
            raise CandidateError(self.broken)
        try:
            body = _wire.receive(self.inbox)
            if body is None:
                raise _wire.WireError("the program's process ended")
            message = _wire.Decoder(body, lambda number: Remote(self, number)).done()
        except (_wire.WireError, OSError, MemoryError, RecursionError) as exc:
            self.broken = f"the program's process stopped answering: {exc}"
            raise CandidateError(self.broken) from None
        if type(message) is not tuple or not message or type(message[0]) is not str:
            self.broken = "the program's process sent an unreadable reply"
            raise CandidateError(self.broken)
        return message

    def request(
        self, op: str, target: Remote, args: tuple[object, ...] = (), kwargs: dict[str, object] | None = None
    ) -> object:
        if self.broken:
            raise CandidateError(self.broken)
        body = _wire.encode((op, target._number, args, kwargs or {}), _refs)  # noqa: SLF001
        try:
            _wire.send(self.outbox, body)
        except OSError as exc:
            self.broken = f"the program's process stopped answering: {exc}"
            raise CandidateError(self.broken) from None
        reply = self.receive()
        if reply[0] == "ok" and len(reply) == 2:
            return reply[1]
        if reply[0] == "stop" and op == "next":
            raise StopIteration
        raise _exception(reply)


def _refs(obj: object, out: bytearray, depth: int) -> None:
    """Arguments sent to the candidate: plain data and the candidate's own objects only."""
    if isinstance(obj, Remote):
        out += _wire.handle(obj._number)  # noqa: SLF001
        return
    raise TypeError(f"only plain data can be passed to the program, not {type(obj).__name__}")


def _exception(reply: tuple[Any, ...]) -> BaseException:
    if reply[0] != "raise" or len(reply) < 3 or type(reply[1]) is not str or type(reply[2]) is not str:
        return CandidateError("the program's process sent an unreadable reply")
    name, message = reply[1], reply[2][:ERROR_CAP]
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and not issubclass(kind, NOT_RAISED):
        try:
            return kind(message)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
            pass
    return CandidateError(f"{name}: {message}")


class Remote:
    """An object that lives in the candidate's process. Identity-only equality; everything else asks
    the candidate and checks the answer's type here."""

    __slots__ = ("_link", "_number")

    def __init__(self, link: Link, number: int) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_number", number)

    def _ask(self, op: str, *args: object, kind: type | None = None) -> Any:
        value = self._link.request(op, self, args)
        if kind is not None and type(value) is not kind:
            raise TypeError(f"the program's {op} gave {type(value).__name__}, not {kind.__name__}")
        return value

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return self._link.request("call", self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol lookups (copy, pickle, ...) never reach the candidate
        return self._ask("getattr", name)

    def __setattr__(self, name: str, value: object) -> None:
        self._ask("setattr", name, value)

    def __len__(self) -> int:
        return int(self._ask("len", kind=int))

    def __iter__(self) -> Remote:
        value = self._ask("iter")
        if not isinstance(value, Remote):
            raise TypeError("the program's iterator is not an object of the program")
        return value

    def __next__(self) -> Any:
        return self._ask("next")

    def __str__(self) -> str:
        return str(self._ask("str", kind=str))

    def __repr__(self) -> str:
        return str(self._ask("repr", kind=str))

    def __bool__(self) -> bool:
        return bool(self._ask("bool", kind=bool))

    def __contains__(self, item: object) -> bool:
        return bool(self._ask("contains", item, kind=bool))

    def __getitem__(self, key: object) -> Any:
        return self._ask("getitem", key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Remote) and other._number == self._number and other._link is self._link

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("remote object", self._number))


def _names(code: types.CodeType) -> set[str]:
    """Every name the tests' code (and the code nested in it) refers to."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _names(const)
    return out


def _lendable(module_name: str) -> bool:
    """Whether the tester may import `module_name` on the program's behalf: never a script (`__main__`)
    nor a private module (`_tester`, `_supervisor`). Importing a `__main__` runs a command line in this
    process, with this process's argv, whose paths lie in the program's writable working directory
    (`typer.__main__` tried to import one of them as Python)."""
    return all(part and not part.startswith("_") for part in module_name.split("."))


def _namespace(exports: dict[Any, Any], modules: dict[Any, Any], used: set[str]) -> dict[str, object]:
    """The tests' globals: the program's names they use, minus those that would shadow a builtin or a
    standard-library module; a `solution` module holds all of them for an explicit import."""
    solution = types.ModuleType("solution")
    protected = set(vars(builtins)) | set(sys.stdlib_module_names)
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    for name, module_name in modules.items():
        if type(name) is str and type(module_name) is str and name in used and _lendable(module_name):
            try:
                module = importlib.import_module(module_name)
            except Exception:  # noqa: BLE001, S112 - not importable here: the tests cannot use it either
                continue
            setattr(solution, name, module)
            # `import numpy as np` lends np; but `math` must be the real math, not another module so named
            if name not in vars(builtins) and (name not in protected or name == module_name):
                namespace[name] = module
    for name, value in exports.items():
        if type(name) is str and not name.startswith("__"):
            setattr(solution, name, value)
            if name in used and name not in protected:
                namespace[name] = value
    sys.modules["solution"] = solution
    return namespace


def tester(tests: str, nonce: bytes, inbox: int, outbox: int, result_fd: int) -> NoReturn:
    """Compile the tests, wait for the program, run the tests, write the one result line."""

    def write_result(status: str, phase: str, error: str) -> NoReturn:
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
        line = status.encode() + b"\t" + phase.encode() + b"\t" + error[:ERROR_CAP].encode("unicode_escape")
        os.write(result_fd, line + b"\n")
        os._exit(0 if status == "passed" else 1)

    try:
        code = compile(tests, "<tests>", "exec", dont_inherit=True, optimize=0)
    except BaseException as exc:  # noqa: BLE001 - any compile failure of the tests
        write_result("error", "compile", f"{type(exc).__name__}: {exc}")
    link = Link(inbox, outbox)
    try:
        ready = link.receive()
    except CandidateError as exc:
        write_result("failed", "program", str(exc))
    if ready[0] != "ready" or len(ready) != 3 or type(ready[1]) is not dict or type(ready[2]) is not dict:
        phase = ready[3] if len(ready) == 4 and ready[3] in ("compile", "program", "setup") else "program"
        detail = f"{ready[1]}: {ready[2]}" if len(ready) >= 3 else "unreadable report of the program"
        write_result("error", phase, detail)
    namespace = _namespace(ready[1], ready[2], _names(code))
    try:
        exec(code, namespace)  # noqa: S102 - the tests are the dataset's code
    except BaseException as exc:  # noqa: BLE001 - any exception in the tests fails them
        _wire.print_traceback(exc)
        write_result("failed", "tests", f"{type(exc).__name__}: {exc}")
    write_result("passed", nonce.decode("ascii"), "")

