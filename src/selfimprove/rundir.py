"""The run directory: where a run's every stage writes, the single source of truth for reports and resume.

Layout (DESIGN.md):

    <out>/<name>/config.yaml            the resolved config; resuming with another config is refused
    <out>/<name>/iter_000/eval.jsonl     records of the starting model on the eval splits, metrics.json
    <out>/<name>/iter_00t/samples.jsonl  records of sampling + verification on the improvement split
    <out>/<name>/iter_00t/train_sft.jsonl | train_dpo.jsonl, model/, eval.jsonl, metrics.json
    <out>/<name>/iter_00t/.done-<stage>  written after a stage's outputs are complete
    <out>/<name>/metrics.jsonl           one line per completed iteration (rebuilt from metrics.json files)

Crash safety: every file is written to a temporary name and renamed (selfimprove.jsonl.write_atomic), a
model directory is saved under a temporary name and renamed, and a stage's marker is written only after
all its outputs exist. A stage without a marker is redone from the start, so a run killed at any moment
resumes to the same files: a half-done stage leaves at most temporary files, which are removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from selfimprove.config import dump_config
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl, write_atomic
from selfimprove.progress import stderr

C = TypeVar("C", bound=BaseModel)
KILL_ENV = "SELFIMPROVE_TEST_KILL_AT"  # resume tests only: "<iteration>:<stage>:<start|written>"


class RunDir:
    """Paths and stage markers of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock: IO[str] | None = None
        self._redoing = False  # a stage was (re)done: every later stage marked before this process is stale
        self._marked: set[tuple[int, str]] = set()  # stages this process marked done

    def lock(self) -> None:
        """Hold an exclusive lock on the run for this process's lifetime (released by the OS even on SIGKILL),
        so two processes never write one run directory at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "w")  # noqa: SIM115 - kept open on purpose: the lock lives with it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError(f"another process is running {self.root}; wait for it or stop it first") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def has_work(self) -> bool:
        """Whether any stage was completed (a run that completed none has no result a new config could spoil)."""
        return any(self.root.glob("**/.done-*"))

    def iter_dir(self, t: int) -> Path:
        return self.root / f"iter_{t:03d}"

    def model_dir(self, t: int) -> Path:
        return self.iter_dir(t) / "model"

    def work_dir(self, t: int) -> Path:
        """Scratch space of iteration t's training (trainer output, model before its rename)."""
        return self.iter_dir(t) / ".train-tmp"

    def marker(self, t: int, stage: str) -> Path:
        return self.iter_dir(t) / f".done-{stage}"

    def is_done(self, t: int, stage: str) -> bool:
        return self.marker(t, stage).is_file()

    def mark_done(self, t: int, stage: str, files: dict[str, int] | None = None) -> None:
        """Make the iteration's files durable (model weights included), then write the marker with the size of
        every file the stage wrote (`files`, checked on resume): after a power loss, a marker never stands for
        outputs that were lost."""
        sync_tree(self.iter_dir(t))
        write_atomic(self.marker(t, stage), json.dumps({"stage": stage, "files": files or {}}, indent=1) + "\n")
        sync_tree(self.iter_dir(t), files=False)
        self._marked.add((t, stage))

    def run_stage(self, t: int, stage: str, work: Callable[[], None]) -> bool:
        """Run `work` unless the stage is marked done (and its outputs are intact); mark it afterwards and say
        how long it took (on stderr, with the progress bars). True when it ran.

        Stages are called in order, so once one runs, every later stage is redone too, even if marked done:
        a marker deleted to redo a stage (or a stage whose outputs were lost) makes what depends on it stale."""
        if self.is_done(t, stage) and (not self._redoing or (t, stage) in self._marked):
            self.check_outputs(t, stage)
            return False
        if self.is_done(t, stage):
            stderr.print(f"iteration {t}: redoing {stage}, which depends on a stage just redone", highlight=False)
            self.marker(t, stage).unlink()
        self._redoing = True
        _test_kill_point(t, stage, "start")
        start = time.monotonic()
        before = self._snapshot(t)
        work()
        _test_kill_point(t, stage, "written")
        after = self._snapshot(t)
        self.mark_done(t, stage, {name: size for name, (size, mtime) in after.items()
                                  if before.get(name) != (size, mtime)})
        stderr.print(f"iteration {t}: {stage} done in {time.monotonic() - start:.1f} s")
        return True

    def _snapshot(self, t: int) -> dict[str, tuple[int, int]]:
        """(size, mtime) of every visible file of iteration t (markers, temporaries and scratch left out)."""
        folder = self.iter_dir(t)
        files = (p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else iter(())
        out = {}
        for path in files:
            name = path.relative_to(folder).as_posix()
            if not any(part.startswith(".") for part in name.split("/")):
                stat = path.stat()
                out[name] = (stat.st_size, stat.st_mtime_ns)
        return out

    def check_outputs(self, t: int, stage: str) -> None:
        """A stage marked done must still have every file it wrote, whole (the sizes its marker recorded);
        a missing or truncated one stops the run with what to do, instead of an error far from the cause."""
        try:
            recorded = json.loads(self.marker(t, stage).read_text(encoding="utf-8")).get("files", {})
        except (ValueError, AttributeError):
            return  # a marker of an older version: nothing recorded to check
        for name, size in recorded.items():
            path = self.iter_dir(t) / name
            while not path.parent.exists():  # a deleted folder (model/) is named, not its first file
                path = path.parent
            found = path.stat().st_size if path.is_file() else None
            problem = ("is missing" if not path.exists() else
                       f"has {found} bytes, not the {size} written" if found is not None and found != size else "")
            if problem:
                raise UserError(f"{path} {problem} although {self.marker(t, stage).name} marks stage {stage!r} of "
                                f"iteration {t} done; restore it, or delete {self.marker(t, stage)} to redo that "
                                "stage and every stage after it")

    def clean_temporaries(self) -> None:
        """Remove what an interrupted stage left behind: hidden temporary files and training scratch dirs."""
        for tmp in self.root.glob("**/.*.tmp"):
            tmp.unlink(missing_ok=True)
        for work in self.root.glob("iter_*/.train-tmp"):
            shutil.rmtree(work, ignore_errors=True)

    def completed_iterations(self) -> list[int]:
        """Iterations whose evaluation finished, in order."""
        done = [int(d.name[len("iter_"):]) for d in self.root.glob("iter_*") if (d / ".done-eval").is_file()]
        return sorted(done)

    def load_metrics(self, t: int) -> dict[str, Any]:
        return json.loads((self.iter_dir(t) / "metrics.json").read_text(encoding="utf-8"))

    def rebuild_metrics_jsonl(self) -> list[dict[str, Any]]:
        """Rewrite metrics.jsonl from the iterations' metrics.json files: one line per completed iteration,
        never duplicated however often a run was interrupted and resumed. Returns the rows."""
        rows = [self.load_metrics(t) for t in self.completed_iterations()]
        write_atomic(self.root / "metrics.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return rows


def sync_tree(root: Path, files: bool = True) -> None:
    """fsync every file (when `files`) and every directory under `root`, so renames and contents survive a
    power loss, not only a killed process."""
    paths = [root, *root.rglob("*")] if root.exists() else []
    for path in paths:
        if path.is_dir() or (files and path.is_file()):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@contextmanager
def scratch_beside(out: Path, purpose: str) -> Iterator[Path]:
    """A new hidden folder next to `out` (`.NAME.PURPOSE-XXXXXXXX`) where a directory is built before
    `replace_dir` moves it into place; removed on exit. Unique per call: two processes building the same `out`
    at once never share one, nor delete each other's."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.{purpose}-", dir=out.parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def replace_dir(src: Path, dst: Path) -> None:
    """Move a finished directory into place. A `dst` left by an unmarked earlier attempt is removed first;
    the rename is the moment the new directory appears, whole."""
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)


def _test_kill_point(t: int, stage: str, point: str) -> None:
    """Kill this process with SIGKILL at a named point, when the resume tests ask for it (never otherwise):
    the same abrupt end as a power loss, at a moment a test can name."""
    if os.environ.get(KILL_ENV) == f"{t}:{stage}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b.c': value} for every leaf of nested mappings (lists are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    if not data and prefix:
        out[prefix] = {}
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key: old -> new' for every dotted key whose value differs (or exists on one side only)."""
    a, b = flatten(old), flatten(new)
    missing = object()
    lines = []
    for key in sorted(a.keys() | b.keys()):
        x, y = a.get(key, missing), b.get(key, missing)
        if x != y:
            show = lambda v: "(absent)" if v is missing else repr(v)  # noqa: E731
            lines.append(f"{key}: {show(x)} -> {show(y)}")
    return lines


def free_name(out: Path, name: str) -> str:
    """`name` when <out>/<name> is free, else the first free `name-2`, `name-3`, ..."""
    candidate, k = name, 1
    while (out / candidate).exists():
        k += 1
        candidate = f"{name}-{k}"
    return candidate


def open_run(config: C, fresh: bool = False, force_config: bool = False) -> tuple[RunDir, C]:
    """The run directory <config.out>/<config.name>, new or to resume after checking its config, locked.

    `fresh` never deletes: it picks a free name beside the old run and returns the config with that `name`
    (so the stored config resumes the new directory). A changed config is refused, naming the differing
    keys, unless `force_config` (the old config is then kept as config.replaced-N.yaml)."""
    out, name = Path(getattr(config, "out")), str(getattr(config, "name"))
    if fresh and (out / name).exists():
        name = free_name(out, name)
        config = config.model_copy(update={"name": name})
    run = RunDir(out / name)
    stored = run.root / "config.yaml"
    if not stored.is_file() and run.root.exists() and any(p.name != ".lock" for p in run.root.iterdir()):
        raise UserError(f"{run.root} exists and is not a run directory (no config.yaml); choose another name or out")
    run.lock()  # before anything below changes a file: a refused second process leaves the run as it was
    try:
        _check_config(run, config, force_config)
    except BaseException:
        run.unlock()
        raise
    run.clean_temporaries()
    return run, config


def upgraded(cls: type[BaseModel], stored: dict[str, Any]) -> dict[str, Any]:
    """A stored config as the current config class reads it (keys renamed since, new fields at their
    defaults), so that a run started by an earlier version resumes; as stored when it no longer validates."""
    try:
        return cls.model_validate(stored).model_dump(mode="json")
    except ValidationError:
        return stored


def _check_config(run: RunDir, config: BaseModel, force_config: bool) -> None:
    """Compare with the stored config (refuse a difference unless forced, keeping the old one), then store it."""
    stored = run.root / "config.yaml"
    if stored.is_file():
        old = upgraded(type(config), yaml.safe_load(stored.read_text(encoding="utf-8")) or {})
        diff = config_diff(old, config.model_dump(mode="json"))
        if diff and not force_config:
            raise UserError(
                f"{run.root} was started with another config; differing keys:\n    " + "\n    ".join(diff)
                + f"\nresume with the config in {stored}, pass --force-config to resume anyway, "
                "or --fresh to start a new run beside it"
            )
        if diff:
            k = 1 + len(list(run.root.glob("config.replaced-*.yaml")))
            os.replace(stored, run.root / f"config.replaced-{k}.yaml")
    write_atomic(stored, dump_config(config))


def run_root_of(path: Path) -> Path | None:
    """The run directory that `path` is, or lies inside of (a folder with config.yaml and iteration folders or
    metrics.jsonl), else None."""
    for folder in [Path(path), *Path(path).parents]:
        if (folder / "config.yaml").is_file() and (any(folder.glob("iter_*")) or (folder / "metrics.jsonl").exists()):
            return folder
    return None


def read_records_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a JSONL file of the run (a missing file is a broken run directory, said plainly)."""
    if not path.is_file():
        raise UserError(f"{path} is missing although the stage that writes it is marked done; "
                        f"remove the .done-* markers of that iteration to redo it")
    return list(read_jsonl(path))
