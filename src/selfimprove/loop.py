"""The self-improvement loop (Wu et al. 2024, "Progress or Regress?", Sec. 3; STaR; ReST-EM).

Iteration 0 evaluates the starting model M_0. Then for t = 1..T:

    sample   N completions per improvement problem from M_{t-1} (temperature 0.75, top-p 0.95 by default)
    verify   each against the gold answer (strict and flexible extraction)      -> samples.jsonl
    curate   training rows: correct samples (SFT) or (correct, incorrect) pairs (DPO)  -> train_*.jsonl
    train    M_t from M_{t-1} (or from M_0: restart_from_base) with TRL          -> model/
    evaluate M_t on the eval splits: greedy pass@1, pass@k, diversity, ...      -> eval.jsonl, metrics.json

Each stage reads its inputs from the run directory and writes its outputs there atomically before its
`.done-<stage>` marker, so an interrupted run resumes after its last completed stage. Every stage's seed
derives from (run seed, iteration, stage), and every model is read back from its checkpoint, so a resumed
run computes exactly what an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from transformers import set_seed

from selfimprove.collapse.monitor import monitor_metrics
from selfimprove.compositional.suite import suite_metrics, suite_task
from selfimprove.curate import Row, dpo_pairs, hinted_records, mix, rationale_rows, seed_rows, sft_rows
from selfimprove.evaluate import evaluate_split, judge_all
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.metrics import EmbeddingCache, improvement_set
from selfimprove.metrics.steps import step_metrics
from selfimprove.metrics.summary import summarize_splits
from selfimprove.report.console import metrics_table
from selfimprove.rundir import RunDir, read_records_rows, replace_dir
from selfimprove.sampling import Engine, open_sampler
from selfimprove.sampling.hf import load_model
from selfimprove.sections import ModelSection
from selfimprove.strategies import Method, get_strategy, methods_of
from selfimprove.tasks import check_nonempty
from selfimprove.train.common import DPO_COLUMNS, SFT_COLUMNS, as_conversations
from selfimprove.train.config import TrainSection
from selfimprove.types import Problem, Record, Sampler, Task

if TYPE_CHECKING:
    from selfimprove.commands.run import RunConfig


def run_loop(cfg: RunConfig, run: RunDir) -> list[dict[str, Any]]:
    """Run, or resume, every stage of iterations 0..T. Returns the metrics of each iteration."""
    from selfimprove.tasks import get_task

    task = get_task(cfg.task.name, **cfg.task.options)
    check_splits(task, cfg)
    methods = methods_of(cfg.loop)
    rationalize = get_strategy(cfg.loop.strategy).rationalize
    models = Models(cfg.model, cfg.sampling.batch_size, cfg.sampling.engine, run.root / "serve.log")
    cache = EmbeddingCache(run.root / "embeddings") if cfg.eval.semantic and cfg.eval.k > 1 else None
    console = Console()

    try:
        run.run_stage(0, "eval", partial(evaluate_stage, cfg, task, models, run, 0, cache))
        show_iteration(console, run, 0, "starting model")
        for t in range(1, cfg.loop.iterations + 1):
            method = methods[t - 1]
            run.run_stage(t, "sample", partial(sample_stage, cfg, task, models, run, t, rationalize))
            run.run_stage(t, "curate", partial(curate_stage, cfg, task, run, t, methods, rationalize))
            run.run_stage(t, "train", partial(train_stage, cfg, models, run, t, method))
            run.run_stage(t, "eval", partial(evaluate_stage, cfg, task, models, run, t, cache))
            show_iteration(console, run, t, method)
    finally:
        models.release()  # a served model's server stops with the run, also on errors and Ctrl-C
    return run.rebuild_metrics_jsonl()


def check_splits(task: Task, cfg: RunConfig) -> None:
    """Fail on a bad split name (or a suite the task cannot run) before any model is loaded."""
    needed = [*cfg.eval.splits, cfg.loop.improve_split, *filter(None, [cfg.eval.perplexity.split])]
    if cfg.loop.keep_original > 0:
        needed.append(cfg.loop.seed_split)
    for split in needed:
        check_nonempty(task, split)
    if cfg.eval.compositional.enabled:
        suite_task(task, cfg.eval.compositional)  # an unsupported task fails now, not after iteration 0's sampling


def stage_seed(cfg: RunConfig, t: int, stage: str) -> int:
    """A 31-bit seed from (run seed, the section's own seed, iteration, stage): each stage gets its own
    stream, and the same stage of the same iteration always gets the same one."""
    own = cfg.train.seed if stage == "train" else cfg.sampling.seed
    digest = hashlib.sha256(f"{cfg.seed}/{own}/{t}/{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def model_path(cfg: RunConfig, run: RunDir, t: int) -> str:
    """Checkpoint of M_t: the starting model for t = 0, else the iteration's model/ directory."""
    return cfg.model.path if t == 0 else str(run.model_dir(t))


def read_records(path: Path) -> list[Record]:
    return [Record.from_dict(row) for row in read_records_rows(path)]


class Models:
    """The one sampler held for sampling and evaluation, built from its checkpoint by `open_sampler` (so
    model.chat applies the chat template as in `selfimprove eval`, and model.serve.command serves the checkpoint,
    its output appended to <run>/serve.log) and reused while the checkpoint stays the same (M_t is evaluated,
    then sampled from at t + 1)."""

    def __init__(self, section: ModelSection, batch_size: int, engine: Engine, serve_log: Path) -> None:
        self.section, self.batch_size, self.engine, self.serve_log = section, batch_size, engine, serve_log
        self.path: str | None = None
        self.current: Sampler | None = None
        self.held = ExitStack()

    def sampler(self, path: str) -> Sampler:
        if self.current is None or self.path != path:
            self.release()
            section = self.section.model_copy(update={"path": path})
            self.current = self.held.enter_context(open_sampler(section, self.serve_log, self.batch_size,
                                                                self.engine))
            self.path = path
        return self.current

    def release(self) -> None:
        """Drop the held model or stop its server: before training, so two copies never sit in memory, and
        when the run ends or fails."""
        self.path, self.current = None, None
        self.held.close()


def sample_stage(cfg: RunConfig, task: Task, models: Models, run: RunDir, t: int, rationalize: bool) -> None:
    """N samples per improvement problem from M_{t-1}, judged; STaR also samples hinted rationales."""
    split = cfg.loop.improve_split
    problems = task.load(split, cfg.loop.improve_limit)
    prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
    sampler = models.sampler(model_path(cfg, run, t - 1))
    completions = sampler.sample(prompts, replace(cfg.sampling.params(), seed=stage_seed(cfg, t, "sample")))
    judge_all(task, problems, completions, f"{split} samples")
    records = [Record(p.id, t, split, prompt, p.gold, p.metadata, None, c)
               for p, prompt, c in zip(problems, prompts, completions)]
    if rationalize:
        rationales = rationalize_stage(cfg, task, sampler, records, t)
        write_jsonl(run.iter_dir(t) / "rationales.jsonl", (r.to_dict() for r in rationales))
    write_jsonl(run.iter_dir(t) / "samples.jsonl", (r.to_dict() for r in records))


def rationalize_stage(cfg: RunConfig, task: Task, sampler: Sampler, records: list[Record], t: int) -> list[Record]:
    """STaR rationalization (Zelikman et al. 2022, Sec. 3.2): sample the unsolved problems again with the
    gold answer as a hint; the judged samples are the candidate rationales."""
    hinted = hinted_records(records, cfg.loop.hint)
    if not hinted:
        return []
    params = replace(cfg.sampling.params(), n=cfg.loop.rationalize_samples, seed=stage_seed(cfg, t, "rationalize"))
    completions = sampler.sample([r.prompt for r in hinted], params)
    judge_all(task, [Problem(r.problem_id, r.prompt, r.gold) for r in hinted], completions, "rationales")
    for record, samples in zip(hinted, completions):
        record.samples = samples
    return hinted


def iteration_rows(cfg: RunConfig, task: Task, run: RunDir, s: int, method: Method, rationalize: bool) -> list[Row]:
    """The rows curated from iteration s's own samples (a pure function of files, so `accumulate` can
    recompute earlier iterations' rows exactly); the gold control's rows are the improve problems' reference
    solutions instead (its samples are still drawn, so its data summary shows M_{t-1}'s sampled accuracy)."""
    loop = cfg.loop
    if get_strategy(loop.strategy).reference:
        problems = task.load(loop.improve_split, loop.improve_limit)
        prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
        return seed_rows(problems, prompts, 1.0, stage_seed(cfg, s, "reference"), source="reference")
    records = read_records(run.iter_dir(s) / "samples.jsonl")
    valid = loop.require_valid_steps
    if method == "dpo":
        return dpo_pairs(records, loop.pairs_per_problem, loop.dedupe, stage_seed(cfg, s, "pairs"), valid)
    rows = sft_rows(records, loop.max_per_problem, loop.dedupe, "sample", valid)
    if rationalize:
        rationales = read_records(run.iter_dir(s) / "rationales.jsonl")
        rows += rationale_rows(rationales, loop.max_per_problem, loop.dedupe, valid)
    return rows


def curate_stage(cfg: RunConfig, task: Task, run: RunDir, t: int, methods: list[Method], rationalize: bool) -> None:
    """This iteration's training file under the mixing policy, plus labeled seed rows (keep_original)."""
    method = methods[t - 1]
    same = [s for s in range(1, t + 1) if methods[s - 1] == method]
    per_iteration = [iteration_rows(cfg, task, run, s, method, rationalize) for s in same]
    extra: list[Row] = []
    if method == "sft" and cfg.loop.keep_original > 0:
        problems = task.load(cfg.loop.seed_split, cfg.loop.seed_limit)
        prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
        extra = seed_rows(problems, prompts, cfg.loop.keep_original, stage_seed(cfg, t, "keep_original"))
    rows = mix(per_iteration, cfg.loop.mixing, extra, cfg.loop.dedupe)
    write_jsonl(run.iter_dir(t) / f"train_{method}.jsonl", rows)


def train_stage(cfg: RunConfig, models: Models, run: RunDir, t: int, method: Method) -> None:
    """Train M_t with TRL on this iteration's rows; save it under a temporary name, then rename it to model/.
    With no rows (nothing verified correct, or no pair), M_t is the starting point unchanged."""
    from selfimprove.train.common import save_model
    from selfimprove.train.launch import launch_training

    rows = list(read_jsonl(run.iter_dir(t) / f"train_{method}.jsonl"))
    start = cfg.model.path if cfg.loop.restart_from_base else model_path(cfg, run, t - 1)
    work = run.work_dir(t)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    models.release()
    train_cfg = cfg.train.model_copy(update={"seed": stage_seed(cfg, t, "train")})
    if rows and cfg.train.launcher == "accelerate":
        launch_training(method, start, run.iter_dir(t) / f"train_{method}.jsonl", train_cfg, work / "model", work,
                        cfg.model.dtype, cfg.model.device, cfg.model.chat)
    else:
        set_seed(train_cfg.seed)  # also fixes LoRA's initialisation, done before the trainer seeds itself
        model, tokenizer = load_model(start, cfg.model.dtype, cfg.model.device)
        if rows:
            model = fit(method, model, tokenizer, rows, train_cfg, work / "trainer", cfg.model.chat)
        else:
            Console(stderr=True).print(f"[yellow]iteration {t}: no {method.upper()} training rows; M_{t} = {start}")
        save_model(model, tokenizer, work / "model")
    replace_dir(work / "model", run.model_dir(t))
    shutil.rmtree(work, ignore_errors=True)


def fit(method: Method, model: Any, tokenizer: Any, rows: list[Row], train_cfg: TrainSection, work: Path,
        chat: bool) -> Any:
    """One call of the SFT or DPO adapter on the rows' trainer columns."""
    data = trainer_rows(method, rows, chat)
    if method == "sft":
        from selfimprove.train.sft import train_sft

        return train_sft(model, tokenizer, data, train_cfg, work)
    from selfimprove.train.dpo import train_dpo

    return train_dpo(model, tokenizer, data, train_cfg, work)


def trainer_rows(method: Method, rows: list[Row], chat: bool) -> list[dict[str, Any]]:
    """The columns the trainer sees; with model.chat, as conversations, so training renders them through the
    chat template exactly as sampling rendered the prompts (the files keep the task's text)."""
    columns = SFT_COLUMNS if method == "sft" else DPO_COLUMNS
    return as_conversations(rows, columns) if chat else [{k: r[k] for k in columns} for r in rows]


def evaluate_stage(
    cfg: RunConfig, task: Task, models: Models, run: RunDir, t: int, cache: EmbeddingCache | None
) -> None:
    """Greedy and k sampled completions of M_t on each eval split, judged and summarized."""
    sampler = models.sampler(model_path(cfg, run, t))
    sampling = cfg.sampling.model_copy(update={"seed": stage_seed(cfg, t, "eval")})
    records = [r for split in cfg.eval.splits
               for r in evaluate_split(sampler, task, split, sampling, cfg.eval, cfg.task.shots, t)]
    write_jsonl(run.iter_dir(t) / "eval.jsonl", (r.to_dict() for r in records))
    metrics = {"iteration": t, **summarize_splits(records, cache, cfg.verdict.id_split, cfg.verdict.ood_split)}
    if t >= 2:  # the improvement set IS(t) against M_1 (Wu et al. 2024, Sec. 4.1)
        metrics["improvement"] = improvement_set(records, read_records(run.iter_dir(1) / "eval.jsonl"))
    if t >= 1:
        metrics["data"] = data_summary(run, t, methods_of(cfg.loop)[t - 1])
    metrics.update(monitor_metrics(cfg.eval.perplexity, task, sampler, cfg.eval.splits))  # collapse monitor
    metrics.update(suite_metrics(cfg, task, sampler, records, metrics, run.iter_dir(t), t))  # reasoning gap
    write_atomic(run.iter_dir(t) / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def data_summary(run: RunDir, t: int, method: Method) -> dict[str, Any]:
    """What iteration t trained on: how much of M_{t-1}'s sampled data was correct, and the rows by source."""
    records = read_records(run.iter_dir(t) / "samples.jsonl")
    verdicts = [bool(c.correct) for r in records for c in r.samples]
    rows = list(read_jsonl(run.iter_dir(t) / f"train_{method}.jsonl"))
    sources = Counter(str(row.get("source", "unknown")) for row in rows)
    checked = [row["steps_ok"] for row in rows if row.get("steps_ok") is not None]
    steps = step_metrics(records)
    return {
        "method": method,
        "improve_problems": len(records),
        "improve_samples": len(verdicts),
        "improve_sampled_accuracy": sum(verdicts) / len(verdicts) if verdicts else None,
        "improve_solved": sum(any(c.correct for c in r.samples) for r in records),
        "train_rows": len(rows),
        "train_rows_by_source": dict(sorted(sources.items())),
        # right answer, wrong reasoning in what was trained on (rows whose sample had its steps checked)
        "train_rows_wrong_step": checked.count(False) / len(checked) if checked else None,
        "improve_false_positive_rate": steps["false_positive_rate"] if steps else None,
        "improve_cot_pass@k": steps["cot_pass@k"] if steps else None,
    }


def show_iteration(console: Console, run: RunDir, t: int, what: str) -> None:
    """The key metrics of iteration t as a table (also for iterations a resumed run had already done)."""
    run.rebuild_metrics_jsonl()
    metrics = run.load_metrics(t)
    data = metrics.get("data")
    note = f", trained on {data['train_rows']} rows" if data else ""
    console.print(metrics_table(metrics, f"iteration {t} ({what}{note})"))
