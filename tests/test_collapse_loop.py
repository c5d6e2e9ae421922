"""Recipe `collapse` end to end through the real CLI (micro Llama, arith text, TRL training, beam search),
its resume after a SIGKILL, its pure pieces, and the collapse monitor of the iterative recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from selfimprove.collapse.blocks import corpus_blocks, text_blocks
from selfimprove.collapse.symptoms import corpus_stats
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.recipes.collapse import mix_blocks
from selfimprove.recipes.collapse_config import CollapseConfig
from selfimprove.rundir import KILL_ENV
from selfimprove.tasks import get_task

from conftest import selfimprove, write_config

ARMS = [{"real_fraction": 0.0, "epochs": 1}, {"real_fraction": 0.1, "epochs": 2}]
ARM_DIRS = ["p0-e1", "p0.1-e2"]
TRAIN_BLOCKS, TEST_BLOCKS, BLOCK = 20, 8, 16
SIZES = {"improve": 40, "test": 20}


def collapse_config(model: Path, out: Path, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "out": str(out),
        "seed": 1,
        "task": {"name": "arith", "options": {"sizes": SIZES}},
        "model": {"path": str(model), "device": "cpu"},
        "train": {"batch_size": 8, "learning_rate": 3e-3, "logging_steps": 5},
        "recipe": "collapse",
        "collapse": {"generations": 2, "train_split": "improve", "test_split": "test", "block_size": BLOCK,
                     "train_blocks": TRAIN_BLOCKS, "test_blocks": TEST_BLOCKS,
                     "generation": {"batch_size": 8, "show_progress": False}, "arms": ARMS},
    }


@pytest.fixture(scope="module")
def collapse_run(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 2-generation collapse run of both arms (p = 0 and p = 0.1)."""
    tmp = tmp_path_factory.mktemp("collapse")
    config = collapse_config(micro_model, tmp / "runs", "micro-collapse")
    result = selfimprove("run", str(write_config(tmp, config)), cwd=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "p0.1-e2 generation 2: test perplexity" in result.stdout and "report:" in result.stdout
    return Path(config["out"]) / config["name"]


def rows(path: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(path))


def real_blocks(model: Path, split: str, limit: int) -> list[list[int]]:
    from transformers import AutoTokenizer

    return corpus_blocks(get_task("arith", sizes=SIZES), AutoTokenizer.from_pretrained(model), split, BLOCK, limit)


@pytest.mark.slow
def test_layout_of_each_arm(collapse_run: Path, micro_model: Path) -> None:
    real = real_blocks(micro_model, "improve", TRAIN_BLOCKS)
    for arm in ARM_DIRS:
        root = collapse_run / arm
        first = {p.name for p in (root / "iter_000").iterdir()}
        assert {"train_lm.jsonl", "model", "perplexity.json", "metrics.json", ".done-curate", ".done-train",
                ".done-eval"} <= first
        assert [r["input_ids"] for r in rows(root / "iter_000" / "train_lm.jsonl")] == real
        for g in (1, 2):
            names = {p.name for p in (root / f"iter_{g:03d}").iterdir()}
            assert {"corpus.jsonl", "train_lm.jsonl", "model", "metrics.json", ".done-generate"} <= names
            corpus = rows(root / f"iter_{g:03d}" / "corpus.jsonl")
            assert [c["index"] for c in corpus] == list(range(TRAIN_BLOCKS))
            assert all(len(c["input_ids"]) == BLOCK and c["text"] for c in corpus)  # one B-token continuation each
        lines = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
        assert lines == [json.loads((root / f"iter_{g:03d}" / "metrics.json").read_text()) for g in range(3)]
    assert (collapse_run / "gmm" / "gmm.png").is_file() and (collapse_run / "collapse.json").is_file()


@pytest.mark.slow
def test_training_blocks_mix_a_fresh_fraction_of_real_blocks(collapse_run: Path, micro_model: Path) -> None:
    real = real_blocks(micro_model, "improve", TRAIN_BLOCKS)
    kept = []
    for arm, p in zip(ARM_DIRS, (0.0, 0.1)):
        for g in (1, 2):
            d = collapse_run / arm / f"iter_{g:03d}"
            corpus = [c["input_ids"] for c in rows(d / "corpus.jsonl")]
            train = rows(d / "train_lm.jsonl")
            assert len(train) == TRAIN_BLOCKS
            assert sum(r["source"] == "real" for r in train) == round(p * TRAIN_BLOCKS)
            for i, r in enumerate(train):
                assert r["input_ids"] == (real[i] if r["source"] == "real" else corpus[i])
            if p:
                kept.append({r["index"] for r in train if r["source"] == "real"})
            assert json.loads((d / "metrics.json").read_text())["train_blocks"] == (
                {"generated": 18, "real": 2} if p else {"generated": 20})
    assert kept[0] != kept[1]  # drawn afresh each generation


@pytest.mark.slow
def test_metrics_are_recomputable_from_the_files(collapse_run: Path, micro_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    from selfimprove.sampling.perplexity import block_perplexities

    real, test = real_blocks(micro_model, "improve", TRAIN_BLOCKS), real_blocks(micro_model, "test", TEST_BLOCKS)
    root = collapse_run / ARM_DIRS[1]
    m0, m2 = (json.loads((root / f"iter_{g:03d}" / "metrics.json").read_text()) for g in (0, 2))
    assert m0["tail_loss"] == pytest.approx(1 / TEST_BLOCKS)  # one of 8 blocks lies above its own 95th pct.
    model = AutoModelForCausalLM.from_pretrained(root / "iter_002" / "model")
    ppl = block_perplexities(model, test)
    assert m2["test_perplexity"]["mean"] == pytest.approx(float(ppl.mean()), rel=1e-4)
    assert m2["test_perplexity"]["std"] == pytest.approx(float(ppl.std()), rel=1e-3)
    reference = np.array(json.loads((root / "iter_000" / "perplexity.json").read_text())["test"])
    assert m2["tail_loss"] == pytest.approx(float(np.mean(ppl > np.percentile(reference, 95))))
    corpus = [c["input_ids"] for c in rows(root / "iter_002" / "corpus.jsonl")]
    assert m2["corpus"] == corpus_stats(real, corpus).to_dict() | {"distinct_ngram_ratio": {
        str(n): r for n, r in corpus_stats(real, corpus).distinct_ngram_ratio.items()}}
    assert m2["generation"] == 2 and m2["arm"] == "p0.1-e2" and m2["epochs"] == 2


@pytest.mark.slow
def test_report_shows_both_arms_histograms_and_gmm(collapse_run: Path) -> None:
    html = (collapse_run / "report.html").read_text(encoding="utf-8")
    for text in ("Model collapse: perplexity on real data per generation", "Per-block perplexity histograms",
                 "Numbers per generation", "Gaussian-mixture demonstration", *ARM_DIRS, "real block 0 (context)"):
        assert text in html
    assert html.count("data:image/png;base64,") >= 4


@pytest.mark.slow
def test_killed_collapse_run_resumes_to_the_same_numbers(collapse_run: Path, micro_model: Path, tmp_path: Path) -> None:
    config = collapse_config(micro_model, tmp_path / "runs", "micro-collapse")
    path = write_config(tmp_path, config)
    killed = selfimprove("run", str(path), cwd=tmp_path, env={KILL_ENV: "1:train:written"})
    assert killed.returncode == -9
    first = tmp_path / "runs" / "micro-collapse" / ARM_DIRS[0]
    assert (first / "iter_001" / "model").is_dir() and not (first / "iter_001" / ".done-train").exists()
    before = {p: p.stat().st_mtime_ns for p in (first / "iter_000").rglob("*") if p.is_file()}
    resumed = selfimprove("run", str(path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # generation 0 of the first arm was not redone
    assert resumed.stderr.count("iteration 0: train done") == 1  # only the second arm's generation 0 ran
    for arm in ARM_DIRS:
        for g in range(3):
            a = json.loads((collapse_run / arm / f"iter_{g:03d}" / "metrics.json").read_text())
            b = json.loads((tmp_path / "runs" / "micro-collapse" / arm / f"iter_{g:03d}" / "metrics.json").read_text())
            assert a["test_perplexity"]["mean"] == pytest.approx(b["test_perplexity"]["mean"], rel=1e-4)
            assert a["corpus"] == b["corpus"]


def test_mix_blocks_keeps_size_and_round_p_n_real_blocks() -> None:
    real = [[i, i] for i in range(10)]
    generated = [[100 + i, 100 + i] for i in range(10)]
    mixed = mix_blocks(real, generated, 0.3, seed=5)
    assert [r["index"] for r in mixed] == list(range(10))
    assert sum(r["source"] == "real" for r in mixed) == 3
    assert all(r["input_ids"] == (real if r["source"] == "real" else generated)[r["index"]] for r in mixed)
    assert mix_blocks(real, generated, 0.3, seed=5) == mixed
    assert all(r["source"] == "generated" for r in mix_blocks(real, generated, 0.0, seed=5))


def test_text_blocks_join_with_eos_and_drop_the_remainder(micro_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(micro_model)
    texts = ["Q: Tom has 3 apples.", "A: 3+4=7."]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    stream = ids[0] + [tok.eos_token_id] + ids[1] + [tok.eos_token_id]
    blocks = text_blocks(tok, texts, 4)
    assert blocks == [stream[i: i + 4] for i in range(0, len(stream) - 3, 4)] and len(blocks) == len(stream) // 4


def test_collapse_config_is_checked(tmp_path: Path) -> None:
    base = {"model": {"path": "m"}, "recipe": "collapse"}
    cfg = CollapseConfig.model_validate({**base, "collapse": {"block_size": 24}})
    assert cfg.collapse.generation.new_tokens == 24 and [a.dirname for a in cfg.collapse.arms] == ["p0-e5", "p0.1-e10"]
    assert CollapseConfig.model_validate(base).collapse.block_size == 64  # recipe collapse alone runs the defaults
    old = {"model": {"path": "m"}, "loop": {"strategy": "collapse", "iterations": 4}}  # written before recipes
    assert load_run_config_of(tmp_path, old).collapse.generations == 4
    bad = [
        ({**base, "collapse": {"generation": {"new_tokens": 8}}}, "must equal block_size"),
        ({**base, "collapse": {"arms": [{"real_fraction": 0.1}, {"real_fraction": 0.1}]}}, "share a folder"),
        ({"model": {"path": "m"}, "collapse": {}}, "unknown key 'collapse'"),
        ({"model": {"path": "m"}, "recipe": "iterative", "loop": {"strategy": "collapse"}}, "recipe: collapse"),
        ({"model": {"path": "m"}, "loop": {"strategy": "collapse", "keep_original": 0.1}}, "real_fraction"),
        ({"model": {"path": "m"}, "loop": {"strategy": "collapse", "mixing": "accumulate"}}, "loop.mixing"),
        ({**base, "collapse": {"arms": [{"real_fraction": 1.0}]}}, "real_fraction"),
    ]
    for data, message in bad:
        with pytest.raises(UserError, match=message):
            load_run_config_of(tmp_path, data)


def load_run_config_of(folder: Path, data: dict[str, Any]) -> Any:
    from selfimprove.recipes import load_run_config

    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_run_config(path)


def test_corpus_blocks_refuse_a_task_without_text(micro_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(micro_model)
    with pytest.raises(UserError, match="shorter than one block"):
        corpus_blocks(get_task("arith", sizes={"test": 1}), tok, "test", 10_000)
    with pytest.raises(UserError, match="no reference solutions"):
        corpus_blocks(get_task("arith", sizes={"compositional": 3}), tok, "compositional", 8)


def test_monitor_scores_reference_solutions_given_the_prompt(micro_model: Path) -> None:
    """The monitor's perplexity is exp of the model's own loss on the solution tokens, prompt masked out."""
    import torch

    from selfimprove.sampling import ChatPrompts
    from selfimprove.sampling.hf import HFSampler, load_model
    from selfimprove.sections import SamplingSection
    from selfimprove.suites import SuiteInput
    from selfimprove.suites.perplexity import PerplexityMonitorSection, monitor_metrics

    model, tok = load_model(str(micro_model), "float32", "cpu")
    task = get_task("arith", sizes=SIZES)
    sampler = HFSampler(model, tok, show_progress=False)

    def monitor(section: PerplexityMonitorSection, splits: list[str], scorer: object = sampler) -> dict:
        inp = SuiteInput(task, scorer, [], {}, Path("."), 0, 0, SamplingSection(), splits, None)  # type: ignore[arg-type]
        return monitor_metrics(section, inp)

    out = monitor(PerplexityMonitorSection(limit=3, batch_size=2), ["test", "ood"])["perplexity"]
    assert out["split"] == "test" and out["n"] == 3
    expected = []
    for p in task.load("test", 3):
        prompt = tok(p.prompt)["input_ids"]
        ids = torch.tensor([prompt + tok(" " + p.metadata["solution"], add_special_tokens=False)["input_ids"]])
        labels = ids.clone()
        labels[0, : len(prompt)] = -100
        with torch.no_grad():
            expected.append(torch.exp(model(input_ids=ids, labels=labels).loss).item())
    assert out["mean"] == pytest.approx(float(np.mean(expected)), rel=1e-4)
    assert monitor(PerplexityMonitorSection(enabled=False), ["test"]) == {}
    skipped = monitor(PerplexityMonitorSection(split="compositional"), ["test"])
    assert "no reference solutions" in skipped["perplexity"]["skipped"]
    sampling_only = ChatPrompts(sampler)  # a sampler without the scoring protocol (like a served model)
    assert "served remotely" in monitor(PerplexityMonitorSection(), ["test"], sampling_only)["perplexity"]["skipped"]


@pytest.mark.slow
def test_sft_run_reports_the_monitor(micro_model: Path, tmp_path: Path) -> None:
    config = {
        "name": "sft-monitor", "out": str(tmp_path / "runs"),
        "task": {"name": "arith", "options": {"sizes": {"improve": 6, "test": 6, "ood": 4, "seed": 20}}},
        "model": {"path": str(micro_model)}, "sampling": {"n": 2, "max_new_tokens": 32},
        "eval": {"k": 0, "semantic": False, "perplexity": {"limit": 5}},
        "train": {"max_steps": 2, "batch_size": 4}, "loop": {"strategy": "sft", "iterations": 1},
    }
    result = selfimprove("run", str(write_config(tmp_path, config)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "sft-monitor"
    for t in (0, 1):
        monitor = json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())["perplexity"]
        assert monitor["split"] == "test" and monitor["n"] == 5 and monitor["mean"] > 1 and monitor["std"] >= 0
    assert "held-out test reference solutions" in result.stdout.replace("\n", " ")
    assert "Collapse monitor: perplexity on held-out real text" in (run / "report.html").read_text(encoding="utf-8")
