"""Fingerprints of a run's inputs (the starting checkpoint and the task's local data files), recorded when a run
starts and compared when it resumes: a run must not compare two different starting models in one verdict.

A fingerprint lists every file of a folder with its size and a SHA-256 of its first and last MiB. Hashing whole
checkpoints would cost seconds to minutes for large models on every resume; the head of a safetensors file holds
its header (names, shapes, dtypes, offsets) and the tail holds the last tensor's values, so a retrained,
truncated or swapped checkpoint changes the fingerprint. (hashlib.file_digest hashes whole files; no library
offers a bounded-cost folder digest, so this is written here.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError
from selfimprove.jsonl import write_atomic

EDGE = 1 << 20  # bytes hashed at each end of a file
FILE_NAME = "inputs.json"


def file_digest(path: Path) -> str:
    """SHA-256 of the first and last EDGE bytes (the whole file when it is smaller than 2 * EDGE)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        h.update(f.read(EDGE))
        if size > 2 * EDGE:
            f.seek(size - EDGE)
        h.update(f.read(EDGE))
    return h.hexdigest()[:16]


def folder_fingerprint(root: Path) -> dict[str, Any]:
    """{relative path: [size, digest]} of every visible file under `root` (or the file itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = {}
    for path in files:
        name = path.name if path == root else path.relative_to(root).as_posix()
        if not any(part.startswith((".", "_")) for part in name.split("/")):  # scratch: _trainer/, .tmp files
            out[name] = [path.stat().st_size, file_digest(path)]
    return out


def input_fingerprints(model_path: str, data_folders: list[Path]) -> dict[str, Any]:
    """The starting model (when it is a local folder; a hub id or preset is named only) and each data folder."""
    model = Path(model_path)
    inputs: dict[str, Any] = {"model": {"path": model_path,
                                        "files": folder_fingerprint(model) if model.exists() else None}}
    inputs["data"] = {str(folder): folder_fingerprint(folder) for folder in data_folders if folder.exists()}
    return inputs


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, one phrase per changed input."""
    out = []
    if old.get("model") != new.get("model"):
        files_old, files_new = (old.get("model") or {}).get("files") or {}, new["model"]["files"] or {}
        changed = sorted(k for k in files_old.keys() | files_new.keys() if files_old.get(k) != files_new.get(k))
        out.append(f"the starting model {new['model']['path']} ({', '.join(changed[:3]) or 'its path'} changed)")
    for folder in sorted(old.get("data", {}).keys() | new.get("data", {}).keys()):
        if old.get("data", {}).get(folder) != new.get("data", {}).get(folder):
            out.append(f"the data files in {folder}")
    return out


def check_inputs(run_root: Path, inputs: dict[str, Any], force: bool) -> None:
    """Record the inputs' fingerprint in a new run; on resume, refuse changed inputs unless `force` (then the
    new fingerprint is recorded and the old one kept beside it)."""
    path = run_root / FILE_NAME
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = changes(old, inputs)
        if not changed:
            return
        if not force:
            raise UserError(f"{run_root} began with other inputs ({path}); changed since: {'; '.join(changed)}. "
                            "Put the originals back, pass --force-config to resume with these, or --fresh to start "
                            "a new run")
        k = 1 + len(list(run_root.glob("inputs.replaced-*.json")))
        path.replace(run_root / f"inputs.replaced-{k}.json")
    write_atomic(path, json.dumps(inputs, indent=1) + "\n")
