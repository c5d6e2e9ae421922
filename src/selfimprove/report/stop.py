"""A STOP run's HTML page (recipe stop, Zelikman et al. 2024): the tables of selfimprove.stop.report,
rebuilt from the run directory's metrics.json files."""

from __future__ import annotations

import json
from pathlib import Path

from selfimprove.config import read_yaml
from selfimprove.errors import UserError
from selfimprove.report.render import Section, fragment, page


def is_stop_run(run_dir: Path) -> bool:
    """Whether the run directory's config.yaml is of recipe stop."""
    file = Path(run_dir) / "config.yaml"
    return file.is_file() and read_yaml(file).get("recipe") == "stop"


def stop_history(run_dir: Path) -> list[dict]:
    """The metrics.json of every evaluated round, in round order."""
    files = sorted(Path(run_dir).glob("iter_*/metrics.json"))
    if not files:
        raise UserError(f"{run_dir}: no evaluated round yet (no iter_*/metrics.json); run or resume it first")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def render_stop_report(run_dir: Path) -> str:
    from selfimprove.stop.report import stop_tables

    history = stop_history(run_dir)
    sections = [Section(t.id, t.title, fragment("table.html.j2", head=t.head, rows=t.rows, note=t.note))
                for t in stop_tables(history)]
    subtitle = f"{Path(run_dir).resolve()} · rounds 0–{history[-1]['iteration']}"
    return page(f"selfimprove STOP run: {Path(run_dir).name}", subtitle, sections)
