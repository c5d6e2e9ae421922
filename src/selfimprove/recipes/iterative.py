"""Recipe `iterative`: the self-improvement loop (Wu et al. 2024, "Progress or Regress?", Sec. 3; STaR; ReST-EM).

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

import json
from collections import Counter
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.console import Console

from selfimprove.curate import Row, dpo_pairs, hinted_records, mix, rationale_rows, seed_rows, sft_rows
from selfimprove.evaluate import evaluate_split, grade_all
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.metrics import EmbeddingCache, improvement_set
from selfimprove.metrics.steps import step_metrics
from selfimprove.metrics.summary import summarize_splits
from selfimprove.report.console import metrics_table
from selfimprove.recipes.stages import Models, model_path, read_records, stage_seed, train_stage as fit_stage
from selfimprove.rundir import RunDir
from selfimprove.strategies import Method, get_strategy, methods_of
from selfimprove.suites import SuiteInput, run_suites, suite_splits
from selfimprove.tasks import check_nonempty
from selfimprove.train.rewards import task_spec
from selfimprove.types import Problem, Record, Sampler, Task, task_stop, with_stop

if TYPE_CHECKING:
    from selfimprove.recipes.config import IterativeConfig


def run_loop(cfg: IterativeConfig, run: RunDir) -> list[dict[str, Any]]:
    """Run, or resume, every stage of iterations 0..T. Returns the metrics of each iteration."""
    from selfimprove.tasks import get_task

    task = get_task(cfg.task.name, **cfg.task.options)
    check_splits(task, cfg)
    methods = methods_of(cfg.loop)
    rationalize = get_strategy(cfg.loop.strategy).rationalize
    cache = EmbeddingCache(run.root / "embeddings") if cfg.eval.semantic and cfg.eval.k > 1 else None
    console = Console()

    with Models(cfg.model, cfg.sampling.batch_size, cfg.sampling.engine, run.root / "serve.log") as models:
        run.run_stage(0, "eval", partial(evaluate_stage, cfg, task, models, run, 0, cache))
        show_iteration(console, run, 0, "starting model")
        for t in range(1, cfg.loop.iterations + 1):
            method = methods[t - 1]
            run.run_stage(t, "sample", partial(sample_stage, cfg, task, models, run, t, rationalize))
            run.run_stage(t, "curate", partial(curate_stage, cfg, task, run, t, methods, rationalize))
            run.run_stage(t, "train", partial(train_stage, cfg, models, run, t, method))
            run.run_stage(t, "eval", partial(evaluate_stage, cfg, task, models, run, t, cache))
            show_iteration(console, run, t, method)
    return run.rebuild_metrics_jsonl()


def check_run(cfg: IterativeConfig) -> None:
    """Before the run directory exists: the task's splits (and its suite) can be run."""
    from selfimprove.tasks import get_task

    check_splits(get_task(cfg.task.name, **cfg.task.options), cfg)


def check_splits(task: Task, cfg: IterativeConfig) -> None:
    """Fail on a bad split name (or a suite the task cannot run) before any model is loaded."""
    needed = [*cfg.eval.splits, cfg.loop.improve_split]
    if cfg.loop.keep_original > 0:
        needed.append(cfg.loop.seed_split)
    for split in needed:
        check_nonempty(task, split)
    suite_splits(cfg.eval, task)  # each suite checks its own splits, not after iteration 0's sampling


def sample_stage(cfg: IterativeConfig, task: Task, models: Models, run: RunDir, t: int, rationalize: bool) -> None:
    """N samples per improvement problem from M_{t-1}, graded; STaR also samples hinted rationales."""
    split = cfg.loop.improve_split
    problems = task.load(split, cfg.loop.improve_limit)
    prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
    sampler = models.sampler(model_path(cfg, run, t - 1))
    params = with_stop(replace(cfg.sampling.params(), seed=stage_seed(cfg, t, "sample")), task_stop(task, sampler))
    completions = sampler.sample(prompts, params)
    grade_all(task, problems, completions, f"{split} samples")
    records = [Record(p.id, t, split, prompt, p.gold, p.metadata, None, c)
               for p, prompt, c in zip(problems, prompts, completions)]
    if rationalize:
        rationales = rationalize_stage(cfg, task, sampler, records, t)
        write_jsonl(run.iter_dir(t) / "rationales.jsonl", (r.to_dict() for r in rationales))
    write_jsonl(run.iter_dir(t) / "samples.jsonl", (r.to_dict() for r in records))


def rationalize_stage(
    cfg: IterativeConfig, task: Task, sampler: Sampler, records: list[Record], t: int
) -> list[Record]:
    """STaR rationalization (Zelikman et al. 2022, Sec. 3.2): sample the unsolved problems again with the
    gold answer as a hint; the graded samples are the candidate rationales."""
    hinted = hinted_records(records, cfg.loop.hint)
    if not hinted:
        return []
    params = replace(cfg.sampling.params(), n=cfg.loop.rationalize_samples, seed=stage_seed(cfg, t, "rationalize"))
    params = with_stop(params, task_stop(task, sampler))
    completions = sampler.sample([r.prompt for r in hinted], params)
    grade_all(task, [Problem(r.problem_id, r.prompt, r.gold) for r in hinted], completions, "rationales")
    for record, samples in zip(hinted, completions):
        record.samples = samples
    return hinted


def iteration_rows(
    cfg: IterativeConfig, task: Task, run: RunDir, s: int, method: Method, rationalize: bool
) -> list[Row]:
    """The rows curated from iteration s's own samples (a pure function of files, so `accumulate` can
    recompute earlier iterations' rows exactly); the gold control's rows are the improve problems' reference
    solutions instead (its samples are still drawn, so its data summary shows M_{t-1}'s sampled accuracy)."""
    loop = cfg.loop
    if get_strategy(loop.strategy).reference:
        problems = task.load(loop.improve_split, loop.improve_limit)
        prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
        return seed_rows(problems, prompts, 1.0, stage_seed(cfg, s, "reference"), source="reference")
    if method == "grpo":  # GRPO samples for itself while it trains: its rows are the problems
        spec = task_spec(cfg.task.name, cfg.task.options)
        return [{"prompt": task.format_prompt(p, cfg.task.shots), "gold": p.gold, "task": spec, "problem_id": p.id,
                 "source": "problem"} for p in task.load(loop.improve_split, loop.improve_limit)]
    records = read_records(run.iter_dir(s) / "samples.jsonl")
    valid = loop.require_valid_steps
    if method == "dpo":
        return dpo_pairs(records, loop.pairs_per_problem, loop.dedupe, stage_seed(cfg, s, "pairs"), valid)
    rows = sft_rows(records, loop.max_per_problem, loop.dedupe, "sample", valid)
    if rationalize:
        rationales = read_records(run.iter_dir(s) / "rationales.jsonl")
        rows += rationale_rows(rationales, loop.max_per_problem, loop.dedupe, valid)
    return rows


def curate_stage(
    cfg: IterativeConfig, task: Task, run: RunDir, t: int, methods: list[Method], rationalize: bool
) -> None:
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


def train_stage(cfg: IterativeConfig, models: Models, run: RunDir, t: int, method: Method) -> None:
    """Train M_t with TRL on this iteration's rows (restart_from_base: from M_0, else from M_{t-1}).
    With no rows (nothing verified correct, or no pair), M_t is the starting point unchanged."""
    rows = list(read_jsonl(run.iter_dir(t) / f"train_{method}.jsonl"))
    start = cfg.model.path if cfg.loop.restart_from_base else model_path(cfg, run, t - 1)
    train_cfg = cfg.train.model_copy(update={"seed": stage_seed(cfg, t, "train")})
    fit_stage(models, run, t, method, rows, start, train_cfg, cfg.model.chat)


def evaluate_stage(
    cfg: IterativeConfig, task: Task, models: Models, run: RunDir, t: int, cache: EmbeddingCache | None
) -> None:
    """Greedy and k sampled completions of M_t on each eval split, graded and summarized."""
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
    run_suites(cfg.eval, SuiteInput(task, sampler, records, metrics, run.iter_dir(t), t, cfg.task.shots,
                                    cfg.sampling, cfg.eval.splits, cfg.eval.limit))  # collapse monitor, gap, ...
    write_atomic(run.iter_dir(t) / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def data_summary(run: RunDir, t: int, method: Method) -> dict[str, Any]:
    """What iteration t trained on: how much of M_{t-1}'s sampled data was correct, and the rows by source."""
    records = read_records(run.iter_dir(t) / "samples.jsonl")
    grades = [bool(c.correct) for r in records for c in r.samples]
    rows = list(read_jsonl(run.iter_dir(t) / f"train_{method}.jsonl"))
    sources = Counter(str(row.get("source", "unknown")) for row in rows)
    checked = [row["steps_ok"] for row in rows if row.get("steps_ok") is not None]
    steps = step_metrics(records)
    return {
        "method": method,
        "improve_problems": len(records),
        "improve_samples": len(grades),
        "improve_sampled_accuracy": sum(grades) / len(grades) if grades else None,
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
