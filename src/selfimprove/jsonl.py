"""JSON Lines files written atomically: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes) to a temporary file beside `path`, fsync it, then rename it
    over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by others (reports, records)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_file(path: Path, option: str) -> None:
    """Fail before any work when `path` cannot become a file: it is a folder, or the nearest existing folder
    above it is a file or cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give the name of a file to write")
    parent = check_parent(path, option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: no permission to write in {parent}")


def check_parent(path: Path, option: str) -> Path:
    """The nearest existing folder above `path` (where it would be created); a UserError when that is a file."""
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, not a folder")
    return parent


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write all rows at once, atomically. Returns the number of rows."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    write_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield rows; a malformed line (or a file that is not UTF-8 text) is a UserError naming the file and line."""
    with open_text(path) as f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield parse_line(path, lineno, line)
        except UnicodeDecodeError:
            raise UserError(not_text(path, lineno + 1)) from None


def open_text(path: Path, opener: Any = open) -> Any:
    """`opener(path)` as UTF-8 text, or a UserError when it is missing or a folder."""
    if Path(path).is_dir():
        raise UserError(f"{path} is a folder; give the path of a file")
    if not Path(path).is_file():
        raise UserError(f"{path} not found")
    return opener(path, "rt", encoding="utf-8")


def parse_line(path: Path, lineno: int, line: str) -> Any:
    """One JSON line; a malformed one is a UserError naming the file and line."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg}); fix or remove that line") from None


def read_json(path: Path) -> Any:
    """A whole JSON document; a truncated or malformed one is a UserError naming the file and position."""
    try:
        with open_text(path) as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise UserError(not_text(path)) from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg}); the file may be "
                        "truncated: download or copy it again") from None


def not_text(path: Path, lineno: int | None = None) -> str:
    at = f" (line {lineno})" if lineno else ""
    return f"{path} is not UTF-8 text{at}; is it the right file?"
