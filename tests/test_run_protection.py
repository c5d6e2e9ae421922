"""A run directory is never damaged by another command, and a damaged or changed one is noticed on resume:
eval --out into a run, --force-config while the run is held, a failed start, Ctrl-C, a replaced starting model,
and outputs lost after their stage was marked done."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import MICRO_RUN_SIZES, selfimprove, write_config
from test_cli_inputs import EVAL, assert_refused

from selfimprove.recipes.config import IterativeConfig
from selfimprove.rundir import open_run


def micro_config(model: Path, out: Path, name: str = "r", **task: object) -> dict:
    """One SFT iteration of the micro model on a few arith problems (about 20 s on a loaded 2-core machine)."""
    return {
        "name": name, "out": str(out), "seed": 0,
        "task": {"name": "arith", "options": {"sizes": MICRO_RUN_SIZES}, **task},
        "model": {"path": str(model), "dtype": "float32", "device": "cpu"},
        "sampling": {"n": 2, "max_new_tokens": 24},
        "eval": {"splits": ["test"], "k": 2, "semantic": False},
        "train": {"max_steps": 2, "batch_size": 8, "logging_steps": 1},
        "loop": {"strategy": "sft", "iterations": 1},
    }


def fake_run(root: Path) -> Path:
    """A run directory's layout (config.yaml, an iteration's records) to aim other commands at."""
    (root / "iter_002").mkdir(parents=True)
    (root / "config.yaml").write_text("name: X\n")
    (root / "iter_002" / "eval.jsonl").write_text("{}\n")
    return root


def test_eval_out_never_writes_into_a_run_or_a_foreign_folder(micro_model, tmp_path, capsys):
    run = fake_run(tmp_path / "runs" / "X")
    result = selfimprove(*EVAL, "--model", str(micro_model), "--out", str(run / "iter_002"), cwd=tmp_path)
    assert result.returncode == 2 and "inside the run directory" in result.stderr, result.stderr
    model = ["--model", str(micro_model)]
    assert_refused(capsys, [*EVAL, *model, "--out", str(run)], "inside the run directory")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert_refused(capsys, [*EVAL, *model, "--out", str(foreign)], "notes.txt", "did not write")
    assert (run / "iter_002" / "eval.jsonl").read_text() == "{}\n" and (run / "config.yaml").read_text() == "name: X\n"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_force_config_on_a_run_held_by_another_process_changes_nothing(micro_model, tmp_path):
    config = micro_config(micro_model, tmp_path / "runs")
    held, _ = open_run(IterativeConfig.model_validate(config))  # this process holds the run, as a running `run` would
    stored = (held.root / "config.yaml").read_text()
    changed = write_config(tmp_path, {**config, "sampling": {"n": 3, "max_new_tokens": 24}})
    result = selfimprove("run", str(changed), "--force-config", cwd=tmp_path)
    assert result.returncode == 2 and "another process is running" in result.stderr, result.stderr
    assert (held.root / "config.yaml").read_text() == stored
    assert not list(held.root.glob("config.replaced-*"))


def test_a_failed_start_leaves_no_folder_behind(micro_model, tmp_path, capsys):
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    bad_task = write_config(tmp_path, {**micro_config(micro_model, tmp_path / "runs"), "task": {"name": "arihm"}})
    assert_refused(capsys, ["run", str(bad_task)], "unknown task 'arihm'")
    bad_model = write_config(tmp_path, micro_config(text, tmp_path / "runs"))
    assert_refused(capsys, ["run", str(bad_model)], "not a HF checkpoint")
    assert not (tmp_path / "runs" / "r").exists()


# --- a real run: Ctrl-C, then resume; stage outputs and the starting model checked on resume -----------------

def launch(config: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "selfimprove.cli", "run", str(config)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def interrupted_run(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run started from its own copy of the micro model, SIGINTed once iteration 0 is done, then resumed
    to the end. Returns the paths and both results."""
    root = tmp_path_factory.mktemp("interrupted")
    model = root / "start-model"
    shutil.copytree(micro_model, model, ignore=shutil.ignore_patterns("_trainer"))
    config = write_config(root, micro_config(model, root / "runs"))
    run = root / "runs" / "r"
    proc = launch(config, root)
    end = time.monotonic() + 300
    while not (run / "iter_000" / ".done-eval").exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < end, "iteration 0 never finished"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, first_err = proc.communicate(timeout=120)
    first = (proc.returncode, first_err)
    second = selfimprove("run", str(config), cwd=root)
    return {"root": root, "model": model, "config": config, "run": run, "first": first, "second": second}


@pytest.mark.slow
def test_ctrl_c_stops_a_run_with_130_and_the_same_command_resumes_it(interrupted_run):
    code, err = interrupted_run["first"]
    assert code == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume"
    second = interrupted_run["second"]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming after iteration 0" in " ".join(second.stdout.split())
    assert (interrupted_run["run"] / "iter_001" / ".done-eval").is_file()


@pytest.mark.slow
def test_resume_checks_the_outputs_of_finished_stages(interrupted_run):
    run, config, root = interrupted_run["run"], str(interrupted_run["config"]), interrupted_run["root"]
    samples = run / "iter_001" / "samples.jsonl"
    whole = samples.read_text()
    samples.write_text("".join(whole.splitlines(keepends=True)[:-1]))  # the last line lost
    result = selfimprove("run", config, cwd=root)
    assert result.returncode == 2 and "samples.jsonl has" in result.stderr and ".done-sample" in result.stderr
    samples.write_text(whole)

    shutil.move(run / "iter_001" / "model", root / "model-aside")
    result = selfimprove("run", config, cwd=root)
    assert result.returncode == 2 and "iter_001/model is missing" in result.stderr, result.stderr
    shutil.move(root / "model-aside", run / "iter_001" / "model")

    before = (run / "iter_001" / "eval.jsonl").read_bytes()
    (run / "iter_001" / ".done-sample").unlink()  # asks for sampling to be redone: what depends on it follows
    result = selfimprove("run", config, cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "redoing curate" in result.stderr and "redoing eval" in result.stderr
    assert (run / "iter_001" / ".done-sample").is_file()
    assert (run / "iter_001" / "eval.jsonl").read_bytes() == before  # same seeds: the same results again


@pytest.mark.slow
def test_resume_refuses_a_replaced_starting_model_unless_forced(interrupted_run):
    from safetensors.torch import load_file, save_file

    model, config, root = interrupted_run["model"], str(interrupted_run["config"]), interrupted_run["root"]
    weights = model / "model.safetensors"
    original = weights.read_bytes()
    tensors = load_file(weights)
    name = sorted(tensors)[-1]
    tensors[name] = tensors[name] + 0.01  # another checkpoint of the same shape
    save_file(tensors, weights, metadata={"format": "pt"})
    result = selfimprove("run", config, cwd=root)
    assert result.returncode == 2 and "the starting model" in result.stderr and "model.safetensors" in result.stderr
    assert "--force-config" in result.stderr
    result = selfimprove("run", config, "--force-config", cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (interrupted_run["run"] / "inputs.replaced-1.json").is_file()
    weights.write_bytes(original)
    recorded = yaml.safe_load((interrupted_run["run"] / "inputs.json").read_text())
    assert recorded["model"]["path"] == str(model)


def test_scratch_folders_beside_one_target_are_separate_and_removed(tmp_path: Path) -> None:
    """The seed model's pretraining and copy and the STOP proposer build in a scratch folder beside their target:
    two builds of the same target at once get two folders, and neither touches the other's."""
    from selfimprove.rundir import replace_dir, scratch_beside

    out = tmp_path / "models" / "tiny"
    with scratch_beside(out, "pretrain") as first, scratch_beside(out, "pretrain") as second:
        assert first != second and first.parent == second.parent == out.parent and first.name.startswith(".tiny.pretrain-")
        (second / "model").mkdir()
        (second / "model" / "weights").write_text("2")
        replace_dir(second / "model", out)
        assert first.is_dir()  # the other build's folder is still there
    assert [p.name for p in out.parent.iterdir()] == ["tiny"] and (out / "weights").read_text() == "2"
