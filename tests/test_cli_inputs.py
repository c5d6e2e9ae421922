"""Bad data, bad numbers and bad output paths: each is one line naming the file or key, exit code 2, and nothing
written. Run through the CLI's entry point (`run_app`, what `selfimprove` calls) in this process, so that the
many cases share one import of the libraries; test_cli.py covers the same entry point in a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from selfimprove.cli import app
from selfimprove.entry import run_app

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EVAL = ["eval", "--task", "arith", "--split", "test", "--limit", "2", "--k", "0", "task.options.sizes.test=2",
        "eval.semantic=false", "sampling.max_new_tokens=4"]


def entry(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """(exit code, stderr) of `selfimprove ARGS` run by the real entry point; the environment and warning
    filters it sets for library output are restored afterwards."""
    saved = dict(os.environ)
    try:
        with warnings.catch_warnings(), pytest.raises(SystemExit) as e:
            run_app(app, "selfimprove", ("run", "demo"), args=list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(e.value.code or 0), capsys.readouterr().err


def assert_refused(capsys: pytest.CaptureFixture[str], args: list[str], *words: str) -> None:
    code, err = entry(capsys, *args)
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("error:") and len(err.strip().splitlines()) <= 3, err
    for word in words:
        assert word in err, err


def write_gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def bad_data(tmp_path: Path) -> Path:
    """A data root whose every dataset is broken in one way."""
    root = tmp_path / "data"
    for name in ("gsm8k", "mbpp", "humaneval"):
        (root / name).mkdir(parents=True)
    (root / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q"}) + "\n")  # no answer
    (root / "gsm8k" / "train.jsonl").write_text("")  # empty
    (root / "mbpp" / "mbpp.jsonl").write_text(json.dumps({"task_id": 11, "text": "t", "code": "c"}) + "\n")
    (root / "mbpp" / "sanitized-mbpp.json").write_text('[{"task_id": 11, "prompt": "t", "code')  # truncated
    write_gz(root / "humaneval" / "HumanEval.jsonl.gz", '{"task_id": "HumanEval/0"\n')
    return root


DATA_CASES = {
    "gsm8k row without answer": (["--task", "gsm8k", "--split", "test"], ["gsm8k/test.jsonl", "row 0", "'answer'"]),
    "empty dataset": (["--task", "gsm8k", "--split", "train"], ["gsm8k/train.jsonl", "no rows"]),
    "mbpp row without test_list": (["--task", "mbpp", "--split", "test"], ["mbpp/mbpp.jsonl", "'test_list'"]),
    "truncated sanitized-mbpp.json": (["--task", "mbpp", "--split", "test", "task.options.variant=sanitized"],
                                      ["sanitized-mbpp.json", "not valid JSON", "truncated"]),
    "malformed line in HumanEval.jsonl.gz": (["--task", "humaneval", "--split", "test"],
                                             ["HumanEval.jsonl.gz:1", "not valid JSON"]),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_dataset_files_name_the_file(case, bad_data, micro_model, tmp_path, capsys):
    args, words = DATA_CASES[case]
    out = tmp_path / "out"
    assert_refused(capsys, ["eval", "--model", str(micro_model), "--k", "0", "--data-dir", str(bad_data),
                            "--out", str(out), *args], *words)
    assert not out.exists()


def test_bad_config_values_are_refused_before_anything_runs(micro_model, tmp_path, capsys):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  path: caf\xe9\n".encode("latin-1"))
    assert_refused(capsys, ["eval", str(config)], "latin1.yaml", "UTF-8")
    model = ["--model", str(micro_model), "--out", str(tmp_path / "e")]
    assert_refused(capsys, [*EVAL, *model, "eval.splits=[]"], "eval.splits")
    assert_refused(capsys, [*EVAL, *model, "task.options.seed=abc"], "task.options.seed", "'abc'")
    assert_refused(capsys, [*EVAL, *model, "task.options.sizes.test=0"], "arith split 'test' holds no problems")
    assert_refused(capsys, ["eval", "--task", "gsm8k", *model, "skills.enabled=true"], "skills.enabled", "arith")
    assert_refused(capsys, ["pretrain", f"out={tmp_path / 'm'}", "train.max_steps=-5"], "train.max_steps", "-1")
    assert_refused(capsys, ["pretrain", f"out={tmp_path / 'm'}", "train.max_steps=0"], "train.max_steps")
    assert not (tmp_path / "e").exists() and not (tmp_path / "m").exists()


def test_broken_checkpoints_say_what_is_missing(micro_model, tmp_path, capsys):
    truncated = tmp_path / "truncated"
    shutil.copytree(micro_model, truncated, ignore=shutil.ignore_patterns("_trainer"))
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert_refused(capsys, [*EVAL, "--model", str(truncated), "--out", str(tmp_path / "e")],
                   str(truncated), "truncated")
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(micro_model, no_tokenizer, ignore=shutil.ignore_patterns("_trainer", "tokenizer*"))
    assert_refused(capsys, [*EVAL, "--model", str(no_tokenizer), "--out", str(tmp_path / "e")], "no tokenizer")
    assert not (tmp_path / "e").exists()


def test_output_paths_that_cannot_be_written_are_refused_first(micro_model, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    assert_refused(capsys, [*EVAL, "--model", str(micro_model), "--out", str(a_file)], "is a file")
    gsm8k = DATA / "gsm8k" / "test.jsonl"
    if gsm8k.is_file():  # a folder as --out: refused before the pairs are built
        assert_refused(capsys, ["build-compositional", "--input", str(gsm8k), "--out", str(tmp_path)], "is a folder")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    assert_refused(capsys, ["build-compositional", "--input", str(binary), "--out", str(tmp_path / "p.jsonl")],
                   "binary.jsonl", "not UTF-8")
    assert_refused(capsys, ["report", str(tmp_path), "--out", str(a_file / "report.html")], "a-file is a file")
    assert a_file.read_text() == "mine\n" and not (tmp_path / "p.jsonl").exists()
