"""Recipe `collapse`: recursive training on generated data (Shumailov et al., Nature 2024, "AI models
collapse when trained on recursively generated data", language-model experiment).

For each arm (a fraction p of real data kept, E epochs), generations g = 0..G (G = collapse.generations):

    g = 0   curate   the real training blocks                                   -> train_lm.jsonl
            train    the starting (pretrained) model on them for E epochs        -> model/
            eval     perplexity of model 0 on the real test blocks and on the real training blocks
    g >= 1  generate model g-1 continues every real training block by B tokens
                     (beam search, 5 beams, repetition penalty 3.0 by default)   -> corpus.jsonl
            curate   the training blocks: a fresh random fraction p of real blocks, the rest of the
                     generated corpus, block for block (same size as the real corpus)  -> train_lm.jsonl
            train    the STARTING model again (as in the paper), not model g-1   -> model/
            eval     model g on the real test blocks; the corpus under model 0; tail loss; corpus
                     statistics                                                   -> perplexity.json, metrics.json

Nothing is verified: this is the unfiltered self-training that collapses. Each arm is its own folder in
the run directory, laid out as a run (iter_000..iter_G with .done-<stage> markers and metrics.jsonl), so
an interrupted run resumes after its last completed stage with the loop's RunDir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from rich.console import Console
from transformers import AutoConfig, AutoTokenizer

from selfimprove.collapse.config import CollapseArm, CollapseSection
from selfimprove.collapse.blocks import corpus_blocks
from selfimprove.collapse.measure import PPL_FILE, generation_metrics, load_arms, summary
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.recipes.collapse_config import CollapseConfig
from selfimprove.recipes.stages import Models, derive_seed, train_stage as fit_stage
from selfimprove.rundir import RunDir


@dataclass
class Job:
    """What every stage of every arm shares: the config, the real blocks, the tokenizer, the models."""

    cfg: CollapseConfig
    section: CollapseSection
    tokenizer: Any
    real_train: list[list[int]]
    real_test: list[list[int]]
    models: Models
    console: Console

    def seed(self, arm: CollapseArm, g: int, stage: str) -> int:
        """A 31-bit seed from (run seed, train seed, arm, generation, stage)."""
        return derive_seed(self.cfg.seed, self.cfg.train.seed, arm.dirname, g, stage)


def load_job(cfg: CollapseConfig) -> Job:
    """The real corpus cut into blocks with the starting model's tokenizer."""
    from selfimprove.models import resolve_model_path
    from selfimprove.tasks import get_task

    section = cfg.collapse
    task = get_task(cfg.task.name, **cfg.task.options)
    path = resolve_model_path(cfg.model.path)
    limit = getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", None)
    if limit is not None and 2 * section.block_size > limit:
        raise UserError(f"a block and its continuation take 2 x block_size = {2 * section.block_size} positions; "
                        f"the model has {limit}: lower collapse.block_size")
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = corpus_blocks(task, tokenizer, section.train_split, section.block_size, section.train_blocks)
    test = corpus_blocks(task, tokenizer, section.test_split, section.block_size, section.test_blocks)
    return Job(cfg, section, tokenizer, train, test, Models(cfg.model), Console())


def mix_blocks(real: list[list[int]], generated: list[list[int]], p: float, seed: int) -> list[dict[str, Any]]:
    """Training rows of a generation g >= 1: block i is real block i for a fresh random set of round(p * N)
    indices, else generated block i (the continuation of real block i), so the size stays N."""
    n = len(real)
    keep = set(np.random.default_rng(seed).choice(n, size=round(p * n), replace=False).tolist())
    return [{"index": i, "source": "real" if i in keep else "generated", "input_ids": real[i] if i in keep else gen}
            for i, gen in enumerate(generated)]


def corpus_of(run: RunDir, g: int) -> list[list[int]]:
    return [row["input_ids"] for row in read_jsonl(run.iter_dir(g) / "corpus.jsonl")]


def generate_stage(job: Job, arm: CollapseArm, run: RunDir, g: int) -> None:
    """Model g-1 continues every real training block; the continuations are generation g's corpus."""
    from selfimprove.collapse.generate import generate_corpus

    model = job.models.model(run.model_dir(g - 1))
    gen_cfg = job.section.generation.model_copy(update={"seed": job.seed(arm, g, "generate")})
    corpus = generate_corpus(model, job.real_train, gen_cfg, job.tokenizer)
    rows = ({"index": i, "input_ids": ids, "text": job.tokenizer.decode(ids)} for i, ids in enumerate(corpus))
    write_jsonl(run.iter_dir(g) / "corpus.jsonl", rows)


def curate_stage(job: Job, arm: CollapseArm, run: RunDir, g: int) -> None:
    if g == 0:
        rows = [{"index": i, "source": "real", "input_ids": b} for i, b in enumerate(job.real_train)]
    else:
        rows = mix_blocks(job.real_train, corpus_of(run, g), arm.real_fraction, job.seed(arm, g, "mix"))
    write_jsonl(run.iter_dir(g) / "train_lm.jsonl", rows)


def train_stage(job: Job, arm: CollapseArm, run: RunDir, g: int) -> None:
    """Model g: the STARTING model fine-tuned for the arm's epochs on generation g's training blocks."""
    rows = list(read_jsonl(run.iter_dir(g) / "train_lm.jsonl"))
    train_cfg = job.cfg.train.model_copy(update={"epochs": arm.epochs, "seed": job.seed(arm, g, "train")})
    fit_stage(job.models, run, g, "causal-lm", rows, job.cfg.model.path, train_cfg)


def eval_stage(job: Job, arm: CollapseArm, run: RunDir, g: int) -> None:
    """Per-block perplexities (perplexity.json) and the generation's metrics (metrics.json)."""
    from selfimprove.sampling.perplexity import block_perplexities

    size = job.section.score_batch_size
    test = block_perplexities(job.models.model(run.model_dir(g)), job.real_test, size, show_progress=True)
    corpus = job.real_train if g == 0 else corpus_of(run, g)
    scored = block_perplexities(job.models.model(run.model_dir(0)), corpus, size, show_progress=True)
    reference = test if g == 0 else np.asarray(read_ppl(run, 0)["test"])
    write_atomic(run.iter_dir(g) / PPL_FILE, json.dumps({"test": test.tolist(), "corpus": scored.tolist()}) + "\n")
    sources = [row["source"] for row in read_jsonl(run.iter_dir(g) / "train_lm.jsonl")]
    metrics = generation_metrics(g, arm, job.section, {"test": test, "corpus": scored}, reference,
                                 job.real_train, corpus, sources)
    write_atomic(run.iter_dir(g) / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def read_ppl(run: RunDir, g: int) -> dict[str, list[float]]:
    return json.loads((run.iter_dir(g) / PPL_FILE).read_text(encoding="utf-8"))


def run_arm(job: Job, arm: CollapseArm, run: RunDir) -> list[dict[str, Any]]:
    """Every stage of generations 0..G of one arm (skipping those marked done)."""
    run.clean_temporaries()
    job.models.release()
    job.models.pinned = str(run.model_dir(0))
    done = run.completed_iterations()
    state = f"resuming after generation {done[-1]}" if done else "starting"
    job.console.print(f"arm {arm.dirname} (p = {arm.real_fraction:g}, {arm.epochs:g} epochs): {state}")
    for g in range(job.section.generations + 1):
        if g > 0:
            run.run_stage(g, "generate", partial(generate_stage, job, arm, run, g))
        run.run_stage(g, "curate", partial(curate_stage, job, arm, run, g))
        run.run_stage(g, "train", partial(train_stage, job, arm, run, g))
        run.run_stage(g, "eval", partial(eval_stage, job, arm, run, g))
        job.console.print(generation_line(run.load_metrics(g)), soft_wrap=True)
    return run.rebuild_metrics_jsonl()


def generation_line(m: dict[str, Any]) -> str:
    ppl, corpus = m["test_perplexity"], m["corpus"]
    ngrams = ", ".join(f"{n}-grams {r:.2f}" for n, r in corpus["distinct_ngram_ratio"].items())
    return (f"{m['arm']} generation {m['generation']}: test perplexity {ppl['mean']:.3g} ± {ppl['std']:.3g}, "
            f"tail loss {100 * m['tail_loss']:.1f}%, distinct tokens {corpus['distinct_token_ratio']:.2f}, "
            f"{ngrams}, rare-token rate {corpus['rare_rate_ratio']:.2f} (ratios to the real corpus)")


def run_collapse(cfg: CollapseConfig, run: RunDir) -> list[dict[str, Any]]:
    """Run or resume every arm, then the Gaussian-mixture demonstration and collapse.json. Returns every
    arm's metrics, arm after arm (each row names its arm)."""
    job = load_job(cfg)
    job.console.print(f"real corpus: {len(job.real_train)} training and {len(job.real_test)} test blocks of "
                      f"{job.section.block_size} tokens ({cfg.task.name}: {job.section.train_split} / "
                      f"{job.section.test_split})")
    histories = {arm.dirname: run_arm(job, arm, RunDir(run.root / arm.dirname)) for arm in job.section.arms}
    job.models.release()
    if job.section.gmm and not (run.root / "gmm" / "gmm.png").is_file():  # the png is written last
        from selfimprove.collapse.gmm import GMMConfig, run_gmm
        from selfimprove.collapse.plots import save_gmm

        save_gmm(run_gmm(GMMConfig()), run.root / "gmm")
    write_atomic(run.root / "collapse.json", json.dumps(summary(load_arms(run.root, job.section), job.section)) + "\n")
    return [row for rows in histories.values() for row in rows]
