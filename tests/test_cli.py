"""The real CLI end to end (pretrain a micro model, evaluate it) and its handling of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.jsonl import read_jsonl


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfimprove.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def assert_clean_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    assert message.startswith("error:") and len(message.splitlines()) <= 4, message
    for word in words:
        assert word in message, message


USAGE = {
    "unknown command": (["nosuchcmd"], "No such command 'nosuchcmd'"),
    "unknown option": (["eval", "--nosuch"], "No such option: --nosuch"),
    "bad option value": (["eval", "--model", "m", "--k", "abc"], "Invalid value for '--k'"),
    "missing argument": (["report"], "Missing argument"),
    "extra argument": (["ls", "extra-arg"], "unexpected extra argument"),
}


@pytest.mark.parametrize("case", USAGE)
def test_usage_errors_are_one_line_and_exit_2(case):
    """typer carries its own click: its usage errors must still be one line (a dependency upgrade once turned
    them into tracebacks, so this goes through the real entry point)."""
    args, words = USAGE[case]
    result = cli(*args)
    assert_clean_error(result, words, "--help")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bare_command_shows_the_help_and_exits_2():
    result = cli()
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "Usage: selfimprove" in result.stdout + result.stderr and "pretrain" in result.stdout + result.stderr


def test_unknown_task(micro_model):
    assert_clean_error(cli("eval", "--model", str(micro_model), "--task", "arihm"), "unknown task", "arith")


def test_missing_model_path(tmp_path):
    assert_clean_error(cli("eval", "--model", str(tmp_path), "--task", "arith"), "not a HF checkpoint")


def test_malformed_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {path: x\n")
    assert_clean_error(cli("eval", str(bad)), "malformed YAML")


def test_invalid_override(micro_model):
    assert_clean_error(cli("eval", "--model", str(micro_model), "sampling.tempreature=2"), "sampling.temperature")
    assert_clean_error(cli("eval", "--model", str(micro_model), "sampling.n=lots"), "sampling.n")


def test_unknown_split_fails_before_loading(micro_model):
    assert_clean_error(cli("eval", "--model", str(micro_model), "--split", "tset"), "no split", "test")


@pytest.mark.slow
def test_pretrain_then_eval_end_to_end(tmp_path):
    out = tmp_path / "seed-model"
    result = cli("pretrain", f"out={out}", "model.hidden_size=32", "model.layers=1", "model.heads=2",
                 "model.intermediate_size=64", "train.max_steps=6", "train.batch_size=16",
                 "task.options.sizes.seed=96")
    assert result.returncode == 0, result.stderr
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "_trainer").exists() and not list(tmp_path.glob(".*"))  # no trainer scratch left anywhere
    # One progress display: our bars, no library warnings or tqdm bars in between (--verbose brings them back).
    for noise in ("FutureWarning", "Tokenizing train dataset", "it/s]", "{'loss'"):
        assert noise not in result.stderr + result.stdout, result.stderr
    assert "training" in result.stderr

    weights = (out / "model.safetensors").read_bytes()
    again = cli("pretrain", f"out={out}", "train.max_steps=1")
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert (out / "model.safetensors").read_bytes() == weights
    verbose = cli("--verbose", "pretrain", f"out={out}", "--overwrite", "model.hidden_size=32", "model.layers=1",
                  "model.heads=2", "model.intermediate_size=64", "train.max_steps=2", "train.batch_size=16",
                  "task.options.sizes.seed=32")
    assert verbose.returncode == 0 and "Tokenizing train dataset" in verbose.stderr, verbose.stderr
    assert (out / "model.safetensors").read_bytes() != weights and not (out / "_trainer").exists()

    ev = tmp_path / "eval"
    result = cli("eval", "--model", str(out), "--task", "arith", "--split", "test", "--split", "ood",
                 "--limit", "6", "--k", "4", "--out", str(ev), "eval.semantic=false", "sampling.max_new_tokens=24")
    assert result.returncode == 0, result.stderr
    assert "Loading weights" not in result.stderr, result.stderr
    records = list(read_jsonl(ev / "eval.jsonl"))
    assert [r["split"] for r in records] == ["test"] * 6 + ["ood"] * 6
    assert all(len(r["samples"]) == 4 and r["greedy"]["correct"] in (True, False) for r in records)
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["test"]["n_problems"] == 6 and set(metrics["test"]["pass@k"]) == {"1", "2", "4"}
    expected = sum(r["greedy"]["correct"] for r in records if r["split"] == "test") / 6
    assert metrics["test"]["greedy_pass@1"] == pytest.approx(expected)
    assert "pass@1 greedy" in result.stdout or "greedy" in result.stdout


def test_collapse_gmm_command(tmp_path):
    result = cli("collapse-gmm", "generations=5", "samples_per_generation=50", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "gmm.json").read_text())
    assert [r["generation"] for r in data["rows"]] == list(range(6))
    assert (tmp_path / "gmm.png").stat().st_size > 1000
    assert_clean_error(cli("collapse-gmm", "generatons=5"), "did you mean 'generations'")


def test_ctrl_c_during_boundary_says_rerun_to_resume(monkeypatch, capsys):  # noqa: ANN001
    """boundary writes its shards as it goes and reuses them: Ctrl-C must say so (exit 130)."""
    import selfimprove.commands.boundary as boundary
    from selfimprove import cli as entry

    def interrupt(section: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(boundary, "run_boundary", interrupt)
    monkeypatch.setattr(sys, "argv", ["selfimprove", "boundary", "runs/x"])
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume"
