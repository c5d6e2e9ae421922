"""The candidate's process: run the model's program, then answer the tester's calls into it.

Untrusted code runs here and only here. The process holds two pipe ends to the tester and its stdout and
stderr; it never sees the tests, the nonce or the result channel. Whatever this file does can be undone
by the program (it shares the interpreter), so nothing here decides anything: it only turns objects into
plain data for the tester, which trusts none of it (see _tester.py).

Messages (_wire.py): after the program ran, one ("ready", exports, modules) or ("raise", type name,
message, phase); then, per request (op, handle, args, kwargs), one ("ok", value), ("raise", type name,
message) or ("stop",). Top-level names become exports: small scalars as values, everything else as a
handle; names bound to modules are sent as the module's name, for the tester to import on its own.
Standard library only (loaded by _supervisor.py).
"""

from __future__ import annotations

import numbers
import os
import sys
import types

import _wire  # type: ignore[import-not-found]  # loaded by _supervisor.py from this folder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

ERROR_CAP = _wire.ERROR_CAP
SCALARS = (type(None), bool, int, float, complex, str, bytes)
SCALAR_EXPORT_CAP = 4096  # larger values are exported as handles: reading them costs only when used
# Subclasses of plain types travel as their plain value (a namedtuple as a tuple, a Counter as a dict,
# an IntEnum as an int), as they would compare in the reference harness.
PLAIN_BASES = (bool, int, float, complex, str, bytes, tuple, list, dict, frozenset, set)


class Kept:
    """An object already in the table: encodes as its handle (not as a second entry)."""

    def __init__(self, number: int) -> None:
        self.number = number


class Objects:
    """The candidate's side of handles: objects the tester refers to by number (1, 2, ...)."""

    def __init__(self) -> None:
        self.table: list[object] = []

    def keep(self, obj: object) -> int:
        self.table.append(obj)
        return len(self.table)

    def get(self, number: int) -> object:
        if not 1 <= number <= len(self.table):
            raise LookupError(f"no object number {number}")
        return self.table[number - 1]

    def plain(self, obj: object, out: bytearray, depth: int) -> None:
        """Encode a value that is not exactly a plain type: its plain value, or a handle."""
        if isinstance(obj, Kept):
            out += _wire.handle(obj.number)
            return
        for base in PLAIN_BASES:
            if isinstance(obj, base):
                _wire.encode_plain(base(obj), out, self.plain, depth)
                return
        if isinstance(obj, numbers.Number):  # numpy scalars and the like register here
            kind = int if isinstance(obj, numbers.Integral) else float if isinstance(obj, numbers.Real) else complex
            _wire.encode_plain(kind(obj), out, self.plain, depth)  # type: ignore[operator]
            return
        out += _wire.handle(self.keep(obj))

    def encode(self, value: object) -> bytes:
        return _wire.encode(value, self.plain)


def _error(exc: BaseException) -> tuple[str, str, str]:
    try:
        message = str(exc)[:ERROR_CAP]
    except BaseException:  # noqa: BLE001 - a __str__ that raises: the type is enough
        message = ""
    return ("raise", type(exc).__name__, message)


def _flush() -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # type: ignore[union-attr]
        except BaseException:  # noqa: BLE001, S110 - None or broken: nothing to flush
            pass


def _exports(namespace: dict[str, object], objects: Objects) -> tuple[dict[str, object], dict[str, str]]:
    values: dict[str, object] = {}
    modules: dict[str, str] = {}
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = str(getattr(value, "__name__", ""))
        elif type(value) in SCALARS and len(objects.encode(value)) <= SCALAR_EXPORT_CAP:
            values[name] = value
        else:
            values[name] = Kept(objects.keep(value))
    return values, modules


def _apply(objects: Objects, request: object) -> tuple[object, ...]:
    """Carry out one request; the reply."""
    op, number, args, kwargs = request  # type: ignore[misc]
    target = objects.get(number)
    if op == "call":
        return ("ok", target(*args, **kwargs))  # type: ignore[operator]
    if op == "getattr":
        return ("ok", getattr(target, args[0]))
    if op == "setattr":
        setattr(target, args[0], args[1])
        return ("ok", None)
    if op == "next":
        try:
            return ("ok", next(target))  # type: ignore[call-overload]
        except StopIteration:
            return ("stop",)
    unary = {"len": len, "iter": iter, "str": str, "repr": repr, "bool": bool}
    if op in unary:
        return ("ok", unary[op](target))  # type: ignore[operator]
    if op == "contains":
        return ("ok", args[0] in target)  # type: ignore[operator]
    if op == "getitem":
        return ("ok", target[args[0]])  # type: ignore[index]
    raise ValueError(f"unknown request {op!r}")


def serve(program: str, inbox: int, outbox: int, refuse_tracing: object) -> NoReturn:
    """Run `program`, tell the tester what it defined, then answer requests until the tester is done."""
    objects = Objects()
    write_back, receive, exit_, getpid = _wire.send, _wire.receive, os._exit, os.getpid  # before the program runs
    me = getpid()

    def reply(message: tuple[object, ...]) -> None:
        _flush()
        if getpid() != me:  # a fork made by the program has no say (as in the single-process harness)
            exit_(1)
        try:
            body = objects.encode(message)
        except BaseException as exc:  # noqa: BLE001 - too deep, too big, or a hostile object: say so
            body = objects.encode(_error(exc))
        write_back(outbox, body)

    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    sys.argv = ["solution.py"]
    phase = "compile"
    try:
        code = compile(program, "<program>", "exec", dont_inherit=True, optimize=0)
        phase = "program"
        sys.addaudithook(refuse_tracing)  # type: ignore[arg-type]
        exec(code, module.__dict__)  # noqa: S102 - this is the sandbox
    except BaseException as exc:  # noqa: BLE001 - any failure of the program is reported, then we stop
        _flush()
        reply((*_error(exc), phase))
        _wire.print_traceback(exc)
        exit_(1)
    values, modules = _exports(module.__dict__, objects)
    reply(("ready", values, modules))
    while True:
        try:
            body = receive(inbox)
        except BaseException:  # noqa: BLE001 - the tester only sends what it should; a broken pipe ends us
            body = None
        if body is None:
            _flush()
            exit_(0)
        try:
            request = _wire.Decoder(body, objects.get).done()
            message = _apply(objects, request)
        except BaseException as exc:  # noqa: BLE001 - the program's exception, reported to the tests
            message = _error(exc)
        reply(message)

