"""The only way values cross between the candidate's process and the tester's: a tagged byte format that
carries Python's plain types exactly, and nothing else.

Plain: None, bool, int, float (nan, inf and -0.0 kept), complex, str, bytes, list, tuple, dict (any plain
keys), set, frozenset, nested to DEPTH_CAP, and the built-in types themselves (by name). Anything else
travels as a `handle`: a number naming an object that stays in the candidate's process. Decoding builds
only exact built-in types, so no value the tester receives can carry code of the candidate (no forged
__eq__, no str subclass).

Hand-written rather than pickle (runs code on load), marshal (documented unsafe on crafted input) or
JSON (loses tuples, sets, bytes, non-str keys, nan): the tester must decode bytes written by an attacker.
Standard library only: this file is loaded by _supervisor.py, which never imports the package.
"""

from __future__ import annotations

import builtins
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DEPTH_CAP = 900  # nesting deeper than this is refused (the decoder recurses)
ERROR_CAP = 2000  # characters of an error message or traceback kept
MESSAGE_CAP = 64 << 20  # bytes in one message; a larger reply is refused, never read
_LEN = struct.Struct("<I")
_FLOAT = struct.Struct("<d")
_COMPLEX = struct.Struct("<dd")
# Captured at load, before any program runs: a program that patches `os` keeps its channel working.
_write, _read = os.write, os.read
_SEQUENCES = {list: b"l", tuple: b"t", set: b"S", frozenset: b"z"}
_BUILDERS = {b"l": list, b"t": tuple, b"S": set, b"z": frozenset}
# Built-in types travel by name (MBPP task 533 passes `int`): each side uses its own.
TYPES = {name: kind for name, kind in vars(builtins).items() if isinstance(kind, type) and not name.startswith("_")}
TYPE_NAMES = {kind: name for name, kind in TYPES.items()}


class WireError(Exception):
    """The bytes are not a well-formed message (a truncated stream, or tampering)."""


def encode(value: object, other: Callable[[object, bytearray, int], None]) -> bytes:
    """`value` as bytes; `other(obj, out, depth)` appends the encoding of a value that is not plain data."""
    out = bytearray()
    _encode(value, out, other, 0)
    return bytes(out)


def _encode(value: object, out: bytearray, other: Callable[[object, bytearray, int], None], depth: int) -> None:
    if depth > DEPTH_CAP:
        raise ValueError(f"value nested deeper than {DEPTH_CAP} levels")
    kind = type(value)
    if value is None:
        out += b"N"
    elif kind is bool:
        out += b"T" if value else b"F"
    elif kind is int:
        size = (value.bit_length() + 8) // 8  # type: ignore[attr-defined]
        out += b"i" + _LEN.pack(size) + value.to_bytes(size, "little", signed=True)  # type: ignore[attr-defined]
    elif kind is float:
        out += b"f" + _FLOAT.pack(value)
    elif kind is complex:
        out += b"c" + _COMPLEX.pack(value.real, value.imag)  # type: ignore[attr-defined]
    elif kind is str:
        data = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
        out += b"s" + _LEN.pack(len(data)) + data
    elif kind is bytes:
        out += b"b" + _LEN.pack(len(value)) + value  # type: ignore[arg-type, operator]
    elif kind in _SEQUENCES:
        items = list(value)  # type: ignore[call-overload]
        out += _SEQUENCES[kind] + _LEN.pack(len(items))
        for item in items:
            _encode(item, out, other, depth + 1)
    elif kind is type and value in TYPE_NAMES:
        name = TYPE_NAMES[value].encode()  # type: ignore[index]
        out += b"y" + _LEN.pack(len(name)) + name
    elif kind is dict:
        out += b"d" + _LEN.pack(len(value))  # type: ignore[arg-type]
        for key, item in list(value.items()):  # type: ignore[attr-defined]
            _encode(key, out, other, depth + 1)
            _encode(item, out, other, depth + 1)
    else:
        other(value, out, depth)


def encode_plain(value: object, out: bytearray, other: Callable[[object, bytearray, int], None], depth: int) -> None:
    """Append `value` (for `other`, after turning an object into plain data)."""
    _encode(value, out, other, depth + 1)


def handle(number: int) -> bytes:
    """The encoding of a reference to the candidate's object `number`."""
    return b"h" + _LEN.pack(number)


class Decoder:
    """Reads one message. `handle(number)` builds a reference; an unknown tag, a truncated message or
    an unhashable key is a WireError."""

    def __init__(self, data: bytes, handle: Callable[[int], object]) -> None:
        self.data, self.pos, self.handle = memoryview(data), 0, handle

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise WireError("message cut short")
        chunk = self.data[self.pos : end].tobytes()
        self.pos = end
        return chunk

    def length(self) -> int:
        return int(_LEN.unpack(self.take(4))[0])

    def value(self, depth: int = 0) -> object:
        if depth > DEPTH_CAP:
            raise WireError(f"value nested deeper than {DEPTH_CAP} levels")
        tag = self.take(1)
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            return int.from_bytes(self.take(self.length()), "little", signed=True)
        if tag == b"f":
            return float(_FLOAT.unpack(self.take(8))[0])
        if tag == b"c":
            real, imag = _COMPLEX.unpack(self.take(16))
            return complex(real, imag)
        if tag == b"s":
            return self.take(self.length()).decode("utf-8", "surrogatepass")
        if tag == b"b":
            return self.take(self.length())
        if tag in _BUILDERS:
            count = self.length()
            try:
                return _BUILDERS[tag](self.value(depth + 1) for _ in range(count))
            except TypeError as exc:  # an unhashable member of a set
                raise WireError(f"bad set member: {exc}") from None
        if tag == b"d":
            out: dict[object, object] = {}
            for _ in range(self.length()):
                key = self.value(depth + 1)
                try:
                    out[key] = self.value(depth + 1)
                except TypeError as exc:
                    raise WireError(f"bad dict key: {exc}") from None
            return out
        if tag == b"y":
            name = self.take(self.length()).decode("ascii", "replace")
            if name not in TYPES:
                raise WireError(f"unknown built-in type {name!r}")
            return TYPES[name]
        if tag == b"h":
            return self.handle(self.length())
        raise WireError(f"unknown tag {tag!r}")

    def done(self) -> object:
        """The message's one value; trailing bytes are tampering."""
        value = self.value()
        if self.pos != len(self.data):
            raise WireError("trailing bytes after the message")
        return value


def send(fd: int, body: bytes) -> None:
    """One message: 4-byte length, then the body; a blocking write of all of it."""
    data = memoryview(_LEN.pack(len(body)) + body)
    while data:
        data = data[_write(fd, data) :]


def receive(fd: int, cap: int = MESSAGE_CAP) -> bytes | None:
    """The next message; None when the other side has closed. Longer than `cap`: WireError, unread."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    size = int(_LEN.unpack(head)[0])
    if size > cap:
        raise WireError(f"message of {size} bytes is over the cap of {cap}")
    body = _read_exactly(fd, size)
    if body is None:
        raise WireError("message cut short")
    return body


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = _read(fd, min(left, 1 << 20))
        if not chunk:
            if left == size:
                return None
            raise WireError("message cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def print_traceback(exc: BaseException, cap: int = ERROR_CAP) -> None:
    """Not a message between the processes: the traceback either child writes to the run's stderr,
    without the frame of the file that caught it."""
    import traceback  # only on the failure path: keeps the common start-up small

    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    os.write(2, text[-cap:].encode("utf-8", "replace"))
