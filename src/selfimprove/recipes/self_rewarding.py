"""Recipe `self-rewarding`: Self-Rewarding Language Models (Yuan et al. 2024), measured against ground truth.

Iteration 0 evaluates M_0. Then for t = 1..T, from M_{t-1}:

    prompts   self-instruct: new questions few-shot from the seed questions (T 0.6, top-p 0.9), the
              parseable non-duplicates kept, the rest counted; or (prompts.source: split) the next
              `count` problems of a split with gold answers                              -> prompts.jsonl
    sample    N candidates per prompt (the run's sampling section; the paper: 4, T 0.7), graded against
              the gold answer where there is one, then each judged J times by the judge (M_{t-1} itself,
              or an external model or server) with the judge template (the paper's additive
              5-point prompt, or the arith world's compact one)                          -> samples.jsonl
    curate    best-vs-worst pairs by mean judge score, ties dropped (length control: epsilon) -> train_dpo.jsonl
    train     M_t by DPO on the pairs, the reference model being M_{t-1}                 -> model/
    eval      M_t on the eval splits, plus this iteration's judge-vs-truth, reward-hacking and prompt
              metrics                                                                    -> metrics.json

The judge's numbers sit beside ground truth in every iteration (selfimprove.metrics.judging): a reward that
rises while the truth stays flat or falls is the sign that the judge is being gamed, and the closing
sentence says which it was, with the interval of the true change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.console import Console

from selfimprove.errors import UserError
from selfimprove.evaluate import evaluate_split, grade_all
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.judges import Judge
from selfimprove.judges.additive import parse_score
from selfimprove.judges.pairs import judged_pairs
from selfimprove.metrics.judging import judging_metrics, pair_metrics
from selfimprove.metrics.prompts import prompt_metrics
from selfimprove.metrics.summary import summarize_splits
from selfimprove.recipes import self_instruct
from selfimprove.recipes.stages import Models, model_path, read_records, stage_seed, train_stage
from selfimprove.report.self_rewarding import reward_table, reward_vs_truth
from selfimprove.rundir import RunDir
from selfimprove.tasks import check_nonempty
from selfimprove.types import Problem, Record, Sampler, SamplingParams, Task, task_stop, with_stop

if TYPE_CHECKING:
    from selfimprove.recipes.self_rewarding_config import SelfRewardingConfig

ARITH = "arith"  # the world that parses posed questions and scores them exactly


def run_self_rewarding(cfg: SelfRewardingConfig, run: RunDir) -> list[dict[str, Any]]:
    """Run, or resume, iterations 0..T. Returns the metrics of each iteration."""
    from selfimprove.tasks import get_task

    task = get_task(cfg.task.name, **cfg.task.options)
    check_task(task, cfg)
    models = Models(cfg.model, cfg.sampling.batch_size)
    console = Console()
    run.run_stage(0, "eval", partial(eval_stage, cfg, task, models, run, 0))
    for t in range(1, cfg.self_rewarding.iterations + 1):
        run.run_stage(t, "prompts", partial(prompts_stage, cfg, task, models, run, t))
        run.run_stage(t, "sample", partial(sample_stage, cfg, task, models, run, t))
        run.run_stage(t, "curate", partial(curate_stage, cfg, run, t))
        rows = list(read_jsonl(run.iter_dir(t) / "train_dpo.jsonl"))
        train_cfg = cfg.train.model_copy(update={"seed": stage_seed(cfg, t, "train")})
        run.run_stage(t, "train", partial(train_stage, models, run, t, "dpo", rows, model_path(cfg, run, t - 1),
                                          train_cfg, cfg.model.chat))
        run.run_stage(t, "eval", partial(eval_stage, cfg, task, models, run, t))
    history = run.rebuild_metrics_jsonl()
    console.print(reward_table(history))
    console.print(reward_vs_truth(history, cfg.verdict))
    return history


def check_run(cfg: SelfRewardingConfig) -> None:
    """Before the run directory exists: the task, its splits and its ground truth fit the config."""
    from selfimprove.tasks import get_task

    check_task(get_task(cfg.task.name, **cfg.task.options), cfg)


def check_task(task: Task, cfg: SelfRewardingConfig) -> None:
    """Bad input fails before any model loads: empty splits, no seed prompts, truth asked of a task without it."""
    sr = cfg.self_rewarding
    for split in cfg.eval.splits:
        check_nonempty(task, split)
    seeds = task.load(sr.prompts.split, sr.prompts.seed_limit) if sr.prompts.split in task.splits else []
    if not seeds:
        raise UserError(f"self-rewarding needs seed prompts, but {task.name} split {sr.prompts.split!r} holds none; "
                        f"set self_rewarding.prompts.split to one of {list(task.splits)}")
    if sr.prompts.source == "self-instruct":
        self_instruct.seed_questions(seeds)
    if sr.truth and not any(p.gold for p in seeds):
        raise UserError(f"self_rewarding.truth needs gold answers, but {task.name} has none; set "
                        "self_rewarding.truth=false to run without judge-vs-truth metrics")
    if sr.truth and sr.prompts.source == "self-instruct" and task.name != ARITH:
        raise UserError(f"self_rewarding.truth needs gold answers for self-instructed prompts, which only the "
                        f"{ARITH} world computes; for {task.name} set self_rewarding.prompts.source=split "
                        "(prompts with gold answers) or self_rewarding.truth=false")
    if sr.judge.template == "arith" and task.name != ARITH:
        raise UserError(f"judge template 'arith' is the arith world's; for {task.name} use 'additive' or your own")


def seed_problems(cfg: SelfRewardingConfig, task: Task) -> list[Problem]:
    return task.load(cfg.self_rewarding.prompts.split, cfg.self_rewarding.prompts.seed_limit)


def earlier_questions(run: RunDir, t: int) -> list[str]:
    """The questions of iterations 1..t-1's prompts (novelty is measured against them)."""
    return [row["metadata"]["question"] for s in range(1, t) for row in read_jsonl(run.iter_dir(s) / "prompts.jsonl")
            if row["metadata"].get("question")]


def prompts_stage(cfg: SelfRewardingConfig, task: Task, models: Models, run: RunDir, t: int) -> None:
    """This iteration's prompts: self-instructed by M_{t-1}, or the seed split's (source: split)."""
    p = cfg.self_rewarding.prompts
    seeds = seed_problems(cfg, task)
    if p.source == "split":
        chosen = seeds[(t - 1) * p.count % len(seeds):][: p.count] or seeds[: p.count]  # a new slice each iteration
        write_jsonl(run.iter_dir(t) / "prompts.jsonl", (asdict(r) for r in chosen))
        write_atomic(run.iter_dir(t) / "prompts.json", json.dumps({"source": "split", "kept": len(chosen)}) + "\n")
        return
    arith = task.name == ARITH
    few_shot = self_instruct.pose_prompts(self_instruct.seed_questions(seeds), p.count, p.shots,
                                          stage_seed(cfg, t, "pose"), arith)
    params = SamplingParams(1, p.temperature, p.top_p, p.max_new_tokens, ("\n",), stage_seed(cfg, t, "prompts"))
    texts = [c[0].text for c in models.sampler(model_path(cfg, run, t - 1)).sample(few_shot, params)]
    earlier = earlier_questions(run, t)
    posed = self_instruct.keep(texts, seeds, earlier, t, arith)
    write_jsonl(run.iter_dir(t) / "prompts.jsonl", (asdict(r) for r in posed.problems))
    questions = [q.metadata["question"] for q in posed.problems]
    summary = prompt_metrics(posed.generated, dict(posed.rejected), questions, [s.metadata["question"] for s in seeds],
                             earlier, [q.metadata.get("difficulty") for q in posed.problems],
                             [s.metadata.get("difficulty") for s in seeds])
    write_jsonl(run.iter_dir(t) / "posed.jsonl", ({"text": x} for x in texts))
    write_atomic(run.iter_dir(t) / "prompts.json", json.dumps({"source": "self-instruct", **summary}, indent=1) + "\n")


def judge_template(name: str) -> str:
    """A judge template by name (additive: the paper's; arith: the world's, what its seed model learned), or
    the template text itself."""
    if name == "additive":
        from selfimprove.judges.additive import TEMPLATE

        return TEMPLATE
    if name == ARITH:
        from selfimprove.tasks.arith_skills import JUDGE_TEMPLATE

        return JUDGE_TEMPLATE
    return name


def make_judge(cfg: SelfRewardingConfig, models: Models, run: RunDir, t: int) -> Judge:
    """M_{t-1} as its own judge, or the external judge of judge.model (a checkpoint, preset or server)."""
    section = cfg.self_rewarding.judge
    sampler: Sampler
    if section.model is None:
        sampler = models.sampler(model_path(cfg, run, t - 1))
    else:
        from selfimprove.sampling import make_sampler

        sampler = make_sampler(section.model, cfg.sampling.batch_size)
    return Judge(sampler, judge_template(section.template), parse_score, section.params(stage_seed(cfg, t, "judge")))


def sample_stage(cfg: SelfRewardingConfig, task: Task, models: Models, run: RunDir, t: int) -> None:
    """N candidates per prompt from M_{t-1}, graded against the gold answer, each judged J times."""
    problems = [Problem(**row) for row in read_jsonl(run.iter_dir(t) / "prompts.jsonl")]
    prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
    sampler = models.sampler(model_path(cfg, run, t - 1))
    params = with_stop(replace(cfg.sampling.params(), seed=stage_seed(cfg, t, "sample")), task_stop(task, sampler))
    completions = sampler.sample(prompts, params)
    if cfg.self_rewarding.truth:
        grade_all(task, problems, completions, "candidates")
    judge = make_judge(cfg, models, run, t)
    items = [(prompt, c.text) for prompt, group in zip(prompts, completions) for c in group]
    judgments = iter(judge.score(items, cfg.self_rewarding.judge.repeats))
    for group in completions:
        for c in group:
            c.judgments = [j.to_dict() for j in next(judgments)]
    records = [Record(p.id, t, p.metadata.get("split", "self-instruct"), prompt, p.gold, p.metadata, None, c)
               for p, prompt, c in zip(problems, prompts, completions)]
    write_jsonl(run.iter_dir(t) / "samples.jsonl", (r.to_dict() for r in records))


def curate_stage(cfg: SelfRewardingConfig, run: RunDir, t: int) -> None:
    records = read_records(run.iter_dir(t) / "samples.jsonl")
    rows, counts = judged_pairs(records, cfg.self_rewarding.length_epsilon)
    write_jsonl(run.iter_dir(t) / "train_dpo.jsonl", rows)
    write_atomic(run.iter_dir(t) / "pairs.json", json.dumps(counts) + "\n")


def eval_stage(cfg: SelfRewardingConfig, task: Task, models: Models, run: RunDir, t: int) -> None:
    """M_t on the eval splits (greedy pass@1, pass@k, ...) and, for t >= 1, iteration t's self-rewarding
    numbers: judge vs truth on its candidates, its pairs against truth, the prompts it wrote."""
    sampler = models.sampler(model_path(cfg, run, t))
    sampling = cfg.sampling.model_copy(update={"seed": stage_seed(cfg, t, "eval")})
    records = [r for split in cfg.eval.splits
               for r in evaluate_split(sampler, task, split, sampling, cfg.eval, cfg.task.shots, t)]
    write_jsonl(run.iter_dir(t) / "eval.jsonl", (r.to_dict() for r in records))
    metrics: dict[str, Any] = {"iteration": t, **summarize_splits(records, None, cfg.verdict.id_split,
                                                                  cfg.verdict.ood_split)}
    if t >= 1:
        metrics["self_rewarding"] = iteration_metrics(cfg, run, t)
    write_atomic(run.iter_dir(t) / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def iteration_metrics(cfg: SelfRewardingConfig, run: RunDir, t: int) -> dict[str, Any]:
    d = run.iter_dir(t)
    records = read_records(d / "samples.jsonl")
    return {
        "judge": judging_metrics(records, cfg.self_rewarding.judge.threshold),
        "pairs": {**pair_metrics(list(read_jsonl(d / "train_dpo.jsonl"))),
                  **json.loads((d / "pairs.json").read_text(encoding="utf-8"))},
        "prompts": json.loads((d / "prompts.json").read_text(encoding="utf-8")),
    }
