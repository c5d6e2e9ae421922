"""Where a benchmark's rows come from: a local folder in the dataset's original format, else the Hugging Face
hub through `datasets` (when online), else one clear UserError that says which files to put where.

The local root is the `data_dir` task option or `$SELFIMPROVE_DATA_DIR`; a dataset lives in `<root>/<name>/`.
Local files are read in the formats their authors released them in (JSON Lines, gzipped JSON Lines, a JSON
array, plain text, or a folder of one-JSON-file-per-problem as in the MATH release), so a user can drop the
official files in place without converting anything.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selfimprove.errors import UserError
from selfimprove.jsonl import open_text, parse_line, read_json, read_jsonl
from selfimprove.types import Problem

ENV_VAR = "SELFIMPROVE_DATA_DIR"
Row = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class HubSplit:
    """One `datasets.load_dataset(path, name, split=split)` call; a split may concatenate several."""

    path: str
    name: str | None
    split: str


@dataclass(frozen=True)
class Source:
    """Where one split of a dataset lives.

    files: candidate file (or folder) names inside `<root>/<dataset>/`, the first that exists wins.
    hub: the hub calls whose rows, concatenated, make the same split.
    origin: where a user gets the local files (shown in the error when nothing is found).
    """

    files: tuple[str, ...]
    hub: tuple[HubSplit, ...]
    origin: str


def data_root(data_dir: str | None) -> Path | None:
    """The local data root: the explicit option wins over the environment variable."""
    chosen = data_dir or os.environ.get(ENV_VAR)
    return Path(chosen).expanduser() if chosen else None


def find_local(dataset: str, data_dir: str | None, files: Sequence[str]) -> Path | None:
    """The first of `files` that exists under `<root>/<dataset>/`, or None."""
    root = data_root(data_dir)
    if root is None:
        return None
    if data_dir is not None and not root.is_dir():
        raise UserError(f"data_dir {str(root)!r} is not a directory; point it at the folder holding {dataset}/")
    for name in files:
        path = root / dataset / name
        if path.exists():
            return path
    return None


def read_local(path: Path) -> list[Row]:
    """Rows of a local file in its original format (chosen by name), or of a folder of `*/*.json` files."""
    if path.is_dir():
        # The MATH release layout: <split>/<subject>/<n>.json, one problem per file.
        files = sorted(path.glob("*/*.json"), key=lambda p: (p.parent.name, _numeric_stem(p)))
        return [{**read_json(f), "unique_id": _relative_id(f)} for f in files]
    name = path.name
    if name.endswith(".jsonl.gz"):
        return _read_jsonl_gz(path)
    if name.endswith(".jsonl"):
        return list(read_jsonl(path))
    if name.endswith(".json"):
        rows = read_json(path)
        if not isinstance(rows, list):
            raise UserError(f"{path}: expected a JSON array of records")
        return rows
    # Plain text (WikiText `*.tokens` / `*.txt`): one row per line, as the hub's `text` column holds them.
    with open(path, encoding="utf-8", newline="") as f:
        return [{"text": line.replace("\r\n", "\n")} for line in f]


def _read_jsonl_gz(path: Path) -> list[Row]:
    """Rows of a gzipped JSON Lines file; a malformed line, bad text or a truncated archive names the file."""
    try:
        with open_text(path, gzip.open) as f:
            return [parse_line(path, i, line) for i, line in enumerate(f, 1) if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a readable gzip of JSON lines ({type(e).__name__}: {e}); download it again") \
            from None


def convert_rows(dataset: str, split: str, rows: list[Row], convert: Callable[[int, Row], T], where: str) -> list[T]:
    """`convert` on every row; a row without a field the task needs (or of the wrong type) is a UserError that
    names the dataset, the file and the row."""
    if not rows:
        raise UserError(f"{dataset} split {split!r} has no rows in {where}; is the file empty?")
    problems = []
    for i, row in enumerate(rows):
        try:
            problems.append(convert(i, row))
        except KeyError as e:
            raise UserError(f"{where}: {dataset} {split} row {i} has no field {e}; is it the {dataset} file?") \
                from None
        except (TypeError, ValueError, AttributeError) as e:
            raise UserError(f"{where}: {dataset} {split} row {i} is malformed ({e})") from None
    return problems


def source_name(dataset: str, data_dir: str | None, files: Sequence[str]) -> str:
    """The local file a split was read from, else the hub (for messages)."""
    path = find_local(dataset, data_dir, files)
    return str(path) if path is not None else f"the hub copy of {dataset}"


def _numeric_stem(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)


def _relative_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"


def load_hub(parts: Sequence[HubSplit]) -> list[Row]:
    """Rows from the Hugging Face hub (or the local `datasets` cache); raises whatever `datasets` raises."""
    import datasets  # imported here: slow to import, and only needed when the local files are missing

    rows: list[Row] = []
    for part in parts:
        rows.extend(dict(row) for row in datasets.load_dataset(part.path, part.name, split=part.split))
    return rows


def load_rows(dataset: str, split: str, source: Source, data_dir: str | None, hub: bool = True) -> list[Row]:
    """The rows of one split: local files first, then the hub; a UserError naming both when neither works."""
    path = find_local(dataset, data_dir, source.files)
    if path is not None:
        return read_local(path)
    reason = "hub disabled (hub=False)"
    if hub and source.hub:
        try:
            return load_hub(source.hub)
        except Exception as e:  # offline, unknown dataset, no access: all mean "not available here"
            reason = f"{type(e).__name__}: {e}"
    raise UserError(_missing_message(dataset, split, source, data_dir, reason))


def _missing_message(dataset: str, split: str, source: Source, data_dir: str | None, reason: str) -> str:
    root = data_root(data_dir)
    where = f"{root / dataset}" if root else f"<root>/{dataset} (set the task option data_dir or ${ENV_VAR})"
    names = " or ".join(source.files) or "(no local file is known for this split)"
    hub = ", ".join(f"{h.path}" + (f" [{h.name}]" if h.name else "") + f" split {h.split}" for h in source.hub)
    return f"{dataset} split {split!r} is not available. Put {names} ({source.origin}) in {where}" + (
        f", or go online so that the hub dataset {hub} can be downloaded ({reason})" if hub else f" ({reason})"
    )


def exemplar_order(pool: Sequence[T], seed: int, exclude: Callable[[T], bool]) -> list[T]:
    """The few-shot exemplar pool in a fixed order given by `seed`, without the excluded items (training items
    whose text also occurs in an evaluation split: MATH has one such problem)."""
    order = random.Random(seed).sample(range(len(pool)), len(pool))
    return [pool[i] for i in order if not exclude(pool[i])]


def take_shots(order: Sequence[T], shots: int, is_asked: Callable[[T], bool]) -> list[T]:
    """The first `shots` exemplars of `order` other than the problem being asked. Every problem gets the same
    exemplars (except the asked one itself), so scores across iterations are measured under one prompt."""
    chosen = [item for item in order[: shots + 1] if not is_asked(item)][:shots]
    if len(chosen) < shots:
        raise UserError(f"asked for {shots} few-shot examples but the exemplar pool holds only {len(chosen)}")
    return chosen


class SplitStore:
    """A dataset's problems, each split loaded once (local files, else the hub), and its few-shot exemplar
    order: the train split shuffled by `seed`, without any item whose question also occurs in an evaluation
    split (so an exemplar can never leak an evaluated problem)."""

    def __init__(
        self, name: str, splits: Sequence[str], sources: dict[str, Source],
        to_problem: Callable[[str, int, Row], Problem], data_dir: str | None, hub: bool, seed: int,
        eval_splits: Sequence[str],
    ) -> None:
        self.name, self.splits, self.sources, self.to_problem = name, tuple(splits), sources, to_problem
        self.data_dir, self.hub, self.seed, self.eval_splits = data_dir, hub, seed, tuple(eval_splits)
        self._cache: dict[str, list[Problem]] = {}
        self._order: list[Problem] | None = None

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"{self.name} has no split {split!r}; choose one of {list(self.splits)}")
        if split not in self._cache:
            source = self.sources[split]
            rows = load_rows(self.name, split, source, self.data_dir, self.hub)
            where = source_name(self.name, self.data_dir, source.files)
            self._cache[split] = convert_rows(self.name, split, rows, lambda i, row: self.to_problem(split, i, row),
                                             where)
        return self._cache[split][:limit]

    def exemplars(self, problem: Problem, shots: int) -> list[Problem]:
        """The train problems shown before `problem`: the same for every problem given `seed`, never itself."""
        return take_shots(self._exemplar_order(), shots, lambda e: e.id == problem.id)

    def _exemplar_order(self) -> list[Problem]:
        if self._order is None:
            evaluated: set[str] = set()
            for split in self.eval_splits:
                with contextlib.suppress(UserError):  # a split that is not available cannot leak
                    evaluated |= {p.metadata["question"].strip() for p in self.load(split)}
            self._order = exemplar_order(
                self.load("train"), self.seed, lambda e: e.metadata["question"].strip() in evaluated
            )
        return self._order
