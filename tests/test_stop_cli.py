"""The `stop` recipe end to end through the real CLI: a micro model (trained for a few steps in the
session fixture) drives the seed improver for one round of self-improvement; every improver version is
saved and scored on both halves, the report is written, a second start resumes without redoing a stage,
and bad STOP input is one line with exit code 2. The embedded default (stop.language scaffold) trains its
tiny proposer before the run starts when model.path holds none, reports the random-line control, and resumes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import selfimprove, write_config


def stop_config(tmp_path: Path, model: Path, **stop: object) -> dict:
    return {
        "recipe": "stop", "name": "stop-micro", "out": str(tmp_path / "runs"), "seed": 0,
        "model": {"path": str(model)}, "sampling": {"max_new_tokens": 12},
        "stop": {"rounds": 1, "runs": 1, "lm_calls": 1, "responses_per_call": 2, "utility_budget": 2,
                 "val_instances": 2, "test_instances": 3, "tasks": ["lpn"], "transfer_tasks": ["grid_dist"], **stop},
    }


@pytest.mark.slow
def test_stop_run_saves_versions_reports_and_resumes(micro_model: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, stop_config(tmp_path, micro_model))
    first = selfimprove("run", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "runs" / "stop-micro"
    assert "def improve_algorithm" in (run / "iter_000" / "improver.py").read_text()
    assert (run / "iter_001" / "improver.py").is_file()  # version 1: whatever the micro model's proposals made of it
    for t in (0, 1):
        metrics = json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())
        assert 0.0 <= metrics["meta_val"] <= 1.0 and 0.0 <= metrics["meta_test"] <= 1.0
        assert set(metrics["transfer"]) == {"grid_dist"} and metrics["attempts"] >= 2
    attempts = [json.loads(line) for line in (run / "iter_001" / "improve.jsonl").read_text().splitlines()]
    assert any(a.get("phase") == "improve" and a["lm_calls"] == 1 for a in attempts)
    assert "Meta-utility per round" in (run / "report.md").read_text()
    assert "Tamper events per round" in (run / "report.html").read_text()
    again = selfimprove("run", str(config), cwd=tmp_path)
    assert again.returncode == 0 and " done in " not in again.stderr, again.stderr[-2000:]
    assert re.search(r"resuming\s+after\s+iteration\s+1", again.stdout), again.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "words"),
    [({"tasks": ["nope"]}, "unknown STOP task"), ({"improver": "IMPROVER"}, "defines no improve_algorithm"),
     ({"language": "cobol"}, "stop.language"), ({"proposer": {"steps": 0}}, "stop.proposer.steps"),
     ({"proposer": {"hidden_size": 66}}, "stop.proposer.hidden_size")],
)
def test_bad_stop_input_is_one_line(micro_model: Path, tmp_path: Path, stop: dict, words: str) -> None:
    bad = tmp_path / "improver.py"
    bad.write_text("def improve(s, u, lm):\n    return s\n")
    stop = {k: (str(bad) if v == "IMPROVER" else v) for k, v in stop.items()}
    result = selfimprove("run", str(write_config(tmp_path, stop_config(tmp_path, micro_model, **stop))), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and words in result.stderr, result.stderr
    assert not (tmp_path / "runs" / "stop-micro").exists()


@pytest.mark.slow
def test_scaffold_default_trains_its_proposer_and_reports_the_control(tmp_path: Path) -> None:
    cfg = stop_config(tmp_path, tmp_path / "proposer", language="scaffold",
                      proposer={"steps": 15, "ground_truth_instances": 1, "rows_per_point": 1}, transfer_tasks=["max_cut"])
    cfg["sampling"]["max_new_tokens"] = 24
    busy = tmp_path / ".proposer.proposer-tmp"  # another run's proposer work folder, still in use
    busy.mkdir()
    (busy / "in-progress").write_text("")
    result = selfimprove("run", str(write_config(tmp_path, cfg)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "proposer" / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.glob(".proposer*")) == [busy.name] and (busy / "in-progress").exists()
    record = json.loads((tmp_path / "proposer" / "proposer.json").read_text())
    assert record["steps"] == 15 and set(record["ground_truth"]) == {"lpn", "three_sat", "max_cut", "grid_dist"}
    run = tmp_path / "runs" / "stop-micro"
    seed, new = ((run / f"iter_{t:03d}" / "improver.py").read_text() for t in (0, 1))
    assert seed.startswith("import ast") and "SETTINGS = dict(calls=" in new
    assert [a for a, b in zip(seed.splitlines(), new.splitlines(), strict=True) if a != b] in ([], [seed.splitlines()[3]])
    metrics = json.loads((run / "iter_001" / "metrics.json").read_text())
    assert metrics["parse"]["evaluate"]["responses"] >= 1 and 0.0 <= metrics["control"]["meta_val"] <= 1.0
    phases = [json.loads(line).get("phase") for name in ("attempts.jsonl", "improve.jsonl")
              for line in (run / "iter_001" / name).read_text().splitlines()]
    assert metrics["control_attempts"] == phases.count("control") >= 1  # counted apart from the model's runs
    assert metrics["attempts"] == sum(phases.count(p) for p in ("evaluate", "transfer", "meta", "improve"))
    report = (run / "report.md").read_text()
    assert "Control: the random-line proposer" in report and "valid settings lines" in report
    controls = sum(json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())["control_attempts"] for t in (0, 1))
    assert f"random-line control's {controls} runs are not counted above" in report
    again = selfimprove("run", str(write_config(tmp_path, cfg)), cwd=tmp_path)  # the trained proposer is the start
    assert again.returncode == 0 and re.search(r"resuming\s+after\s+iteration\s+1", again.stdout), again.stderr[-2000:]
    cfg["stop"]["proposer"]["steps"] = 16  # settings the existing proposer was not trained with: refused
    other = selfimprove("run", str(write_config(tmp_path, cfg)), cwd=tmp_path)
    assert other.returncode == 2 and "steps 15 (asked: 16)" in other.stderr, other.stderr[-2000:]


@pytest.mark.slow
def test_scaffold_never_trains_over_a_path_that_is_no_checkpoint(tmp_path: Path) -> None:
    """Training the proposer replaces model.path's folder: a folder with other files, or a file, is refused
    before anything is measured or trained, and left as it was."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for path in (tmp_path / "mine", tmp_path / "mine" / "notes.txt"):
        cfg = stop_config(tmp_path, path, language="scaffold")
        result = selfimprove("run", str(write_config(tmp_path, cfg)), cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert "is not a checkpoint" in result.stderr and "measuring" not in result.stderr, result.stderr
        assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
        assert not (tmp_path / "runs" / "stop-micro").exists()
