"""Resumable run directories: config checks, --fresh, metrics.jsonl rebuilding, and a run SIGKILLed at
several points that resumes to exactly the files of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selfimprove.recipes.config import IterativeConfig
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.rundir import KILL_ENV, RunDir, config_diff, open_run


def config(tmp_path: Path, **overrides: object) -> IterativeConfig:
    data = {"name": "r", "out": str(tmp_path / "runs"), "model": {"path": "some/model"}, **overrides}
    return IterativeConfig.model_validate(data)


def test_resume_with_changed_config_is_refused_naming_the_keys(tmp_path: Path) -> None:
    run, _ = open_run(config(tmp_path))
    del run  # releases the lock, as the end of a process would
    changed = config(tmp_path, sampling={"n": 4}, loop={"iterations": 5})
    with pytest.raises(UserError) as e:
        open_run(changed)
    assert "sampling.n: 8 -> 4" in str(e.value) and "loop.iterations: 3 -> 5" in str(e.value)
    assert "--force-config" in str(e.value) and "--fresh" in str(e.value)
    run, _ = open_run(changed, force_config=True)
    assert yaml.safe_load((run.root / "config.yaml").read_text())["sampling"]["n"] == 4
    assert yaml.safe_load((run.root / "config.replaced-1.yaml").read_text())["sampling"]["n"] == 8


def test_same_config_resumes_and_a_second_process_is_locked_out(tmp_path: Path) -> None:
    first, _ = open_run(config(tmp_path))
    with pytest.raises(UserError, match="another process"):
        open_run(config(tmp_path))
    del first
    again, _ = open_run(config(tmp_path))
    assert again.root == tmp_path / "runs" / "r"


def test_fresh_starts_beside_the_old_run_and_deletes_nothing(tmp_path: Path) -> None:
    old, _ = open_run(config(tmp_path))
    (old.iter_dir(0)).mkdir()
    (old.iter_dir(0) / "eval.jsonl").write_text("{}\n")
    del old
    new, cfg = open_run(config(tmp_path), fresh=True)
    assert new.root.name == "r-2" and cfg.name == "r-2"
    assert yaml.safe_load((new.root / "config.yaml").read_text())["name"] == "r-2"
    assert (tmp_path / "runs" / "r" / "iter_000" / "eval.jsonl").read_text() == "{}\n"


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a run directory"):
        open_run(config(tmp_path))


def test_config_diff_names_added_and_removed_keys() -> None:
    assert config_diff({"a": {"b": 1, "c": [1]}}, {"a": {"b": 1, "c": [2], "d": 0}}) == [
        "a.c: [1] -> [2]", "a.d: (absent) -> 0"]


def test_metrics_jsonl_is_rebuilt_from_completed_iterations_only(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    for t in (0, 1, 2):
        run.iter_dir(t).mkdir(parents=True)
        (run.iter_dir(t) / "metrics.json").write_text(json.dumps({"iteration": t}))
    run.mark_done(0, "eval")
    run.mark_done(1, "eval")  # iteration 2 wrote metrics.json but was killed before its marker
    (run.root / "metrics.jsonl").write_text('{"iteration": 0}\n{"iteration": 0}\n{"iter')  # a torn old file
    assert run.rebuild_metrics_jsonl() == [{"iteration": 0}, {"iteration": 1}]
    assert (run.root / "metrics.jsonl").read_text() == '{"iteration": 0}\n{"iteration": 1}\n'


def test_run_stage_skips_done_stages_and_marks_new_ones(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    calls: list[str] = []
    assert run.run_stage(1, "sample", lambda: calls.append("a"))
    assert not run.run_stage(1, "sample", lambda: calls.append("b"))
    assert calls == ["a"] and run.is_done(1, "sample")


# --- SIGKILL at several points, resume, compare with an uninterrupted run --------------------------------

def _launch(cfg_path: Path, cwd: Path, kill_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.Popen([sys.executable, "-m", "selfimprove.cli", "run", str(cfg_path)], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_when(proc: subprocess.Popen, path: Path, timeout: float = 300) -> None:
    """SIGKILL the run as soon as `path` appears (polling), as a power loss would."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path} appeared: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _finish(proc: subprocess.Popen, expect_killed: bool = False) -> None:
    _, err = proc.communicate(timeout=600)
    if expect_killed:
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
    else:
        assert proc.returncode == 0, err[-3000:]


def _compared_files(run: Path) -> dict[str, bytes]:
    """Every record, training file, metrics file and model weight of a run (config.yaml differs by `out`,
    report.html may carry a date: both left out)."""
    files = {}
    for path in sorted(run.rglob("*")):
        rel = path.relative_to(run).as_posix()
        if path.is_file() and path.suffix in (".jsonl", ".json", ".safetensors") and "embeddings" not in rel:
            files[rel] = path.read_bytes()
    return files


def _check_jsonl_whole(run: Path) -> None:
    """No JSONL line truncated (every line parses, the file ends in a newline) or duplicated."""
    for path in run.rglob("*.jsonl"):
        text = path.read_text()
        assert text == "" or text.endswith("\n"), path
        rows = list(read_jsonl(path))
        assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows), f"duplicate line in {path}"
    assert [json.loads(x)["iteration"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_uninterrupted_result(improve_model: Path, tmp_path: Path) -> None:
    from test_loop_e2e import run_config

    def write(out: str) -> Path:
        cfg = run_config(improve_model, tmp_path / out, "resume", strategy="sft", max_per_problem=3)
        path = tmp_path / f"{out}.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        return path

    straight, killed = write("straight"), write("killed")
    _finish(_launch(straight, tmp_path))
    run = tmp_path / "killed" / "resume"

    # 1. during sampling of iteration 1 (right after iteration 0's evaluation is marked done)
    _kill_when(_launch(killed, tmp_path), run / "iter_000" / ".done-eval")
    # 2. after curation wrote train_sft.jsonl, before its marker
    _finish(_launch(killed, tmp_path, "1:curate:written"), expect_killed=True)
    assert (run / "iter_001" / "train_sft.jsonl").is_file() and not (run / "iter_001" / ".done-curate").exists()
    # 3. during training (its scratch directory exists until the model is renamed into place)
    _kill_when(_launch(killed, tmp_path), run / "iter_001" / ".train-tmp")
    assert not (run / "iter_001" / ".done-train").exists()
    # 4. between stages: iteration 2 trained, its evaluation not started
    _finish(_launch(killed, tmp_path, "2:eval:start"), expect_killed=True)
    assert (run / "iter_002" / ".done-train").exists() and not (run / "iter_002" / "eval.jsonl").exists()
    # 5. resume to the end
    _finish(_launch(killed, tmp_path))

    _check_jsonl_whole(run)
    expected, got = _compared_files(tmp_path / "straight" / "resume"), _compared_files(run)
    assert sorted(got) == sorted(expected)
    different = [name for name in expected if expected[name] != got[name]]
    assert not different, f"files differ after resuming: {different}"
