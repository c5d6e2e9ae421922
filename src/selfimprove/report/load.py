"""Read a run directory (the layout in DESIGN.md) into plain data for the HTML report.

The report is rebuilt from files alone, so this reader is defensive: a run may still be going (the last
iteration has no metrics yet), may come from `selfimprove eval` (one metrics.json at the top, shown as
iteration 0), or may have lost its per-iteration metrics.json while metrics.jsonl survives. Iterations
are kept only while they are contiguous from 0, because the verdict indexes its history by iteration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selfimprove.config import explain, read_yaml
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.types import Record
from selfimprove.verdict import VerdictConfig

ITER_DIR = re.compile(r"^iter_(\d+)$")
NOT_SPLITS = {"iteration", "generalization", "improvement"}


@dataclass
class Iteration:
    """One iteration's directory: its metrics (empty while not evaluated) and, on demand, its eval records."""

    index: int
    path: Path
    metrics: dict[str, Any]
    done: list[str] = field(default_factory=list)
    _records: list[Record] | None = field(default=None, repr=False)

    def records(self) -> list[Record]:
        """The Records of eval.jsonl ([] when the file is missing), read once."""
        if self._records is None:
            file = self.path / "eval.jsonl"
            self._records = [Record.from_dict(row) for row in read_jsonl(file)] if file.is_file() else []
        return self._records


@dataclass
class Run:
    """A run directory: its resolved config, the evaluated iterations 0..T, and what is not (yet) usable."""

    path: Path
    config: dict[str, Any]
    iterations: list[Iteration]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def history(self) -> list[dict[str, Any]]:
        """history[i] = iteration i's metrics dict (what selfimprove.verdict.decide reads)."""
        return [it.metrics for it in self.iterations]


def pick(node: Any, *path: str) -> Any:
    """node[path[0]][path[1]]..., or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def number(node: Any, *path: str) -> float | None:
    """A numeric leaf as float (None when missing or not a number)."""
    value = pick(node, *path)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def split_names(metrics: dict[str, Any]) -> list[str]:
    """The evaluated splits of one iteration: entries shaped like summarize() output."""
    return [k for k, v in metrics.items() if k not in NOT_SPLITS and isinstance(v, dict) and "n_problems" in v]


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or a UserError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); rerun the stage that wrote it") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of metrics, got {type(data).__name__}")
    return data


def _jsonl_metrics(run_dir: Path) -> dict[int, dict[str, Any]]:
    """metrics.jsonl rows by iteration (later lines win, as a resumed run may append again)."""
    file = run_dir / "metrics.jsonl"
    if not file.is_file():
        return {}
    return {int(row["iteration"]): row for row in read_jsonl(file) if isinstance(row.get("iteration"), int)}


def _iteration_dirs(run_dir: Path) -> dict[int, Path]:
    return {int(m.group(1)): p for p in run_dir.iterdir() if p.is_dir() and (m := ITER_DIR.match(p.name))}


def _iterations(run_dir: Path, notes: list[str]) -> list[Iteration]:
    """Evaluated iterations, contiguous from 0; the first gap or unevaluated iteration ends the list."""
    dirs, from_jsonl = _iteration_dirs(run_dir), _jsonl_metrics(run_dir)
    if not dirs and not from_jsonl and (run_dir / "metrics.json").is_file():
        return [Iteration(0, run_dir, read_json(run_dir / "metrics.json"))]  # a `selfimprove eval` directory
    out: list[Iteration] = []
    for index in range(max([*dirs, *from_jsonl], default=-1) + 1):
        path = dirs.get(index, run_dir / f"iter_{index:03d}")
        file = path / "metrics.json"
        metrics = read_json(file) if file.is_file() else from_jsonl.get(index)
        if metrics is None:
            notes.append(f"iteration {index} has no metrics yet (still running or failed); shown up to {index - 1}")
            break
        done = sorted(p.name.removeprefix(".done-") for p in path.glob(".done-*")) if path.is_dir() else []
        out.append(Iteration(index, path, metrics, done))
    return out


def load_run(run_dir: Path) -> Run:
    """Read a run directory; a UserError when it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    config_file = run_dir / "config.yaml"
    config = read_yaml(config_file) if config_file.is_file() else {}
    notes: list[str] = [] if config_file.is_file() else ["config.yaml is missing; defaults are used for the verdict"]
    iterations = _iterations(run_dir, notes)
    if not iterations:
        raise UserError(
            f"{run_dir} holds no evaluated iteration (no iter_000/metrics.json, metrics.jsonl or metrics.json); "
            "point to a run directory written by `selfimprove run` or `selfimprove eval`"
        )
    return Run(run_dir, config, iterations, notes)


def verdict_config(run: Run, override: VerdictConfig | None = None) -> VerdictConfig:
    """The run's `verdict` section (defaults when absent), with the fields explicitly set in `override` on top."""
    section = run.config.get("verdict") or {}
    try:
        base = VerdictConfig.model_validate(section)
    except ValidationError as e:
        raise UserError(explain(VerdictConfig, e, f"the verdict section of {run.path / 'config.yaml'}")) from None
    if override is None:
        return base
    return base.model_copy(update={name: getattr(override, name) for name in override.model_fields_set})
