"""Recipe `score`: two-attempt self-correction trained by multi-turn RL (Kumar et al. 2024, "Training Language
Models to Self-Correct via Reinforcement Learning", SCoRe), next to its baselines, every arm evaluated alike.

Each arm is one iteration folder of the run directory (iter_000 = base, then the arms in the order below), with
.done-<stage> markers, so an interrupted run resumes after its last completed stage:

    base            the starting model                                              eval
    self-refine     the starting model prompted to give feedback, then refine       eval (prompting only)
    single-turn-rl  RL on first attempts only (the paper's ablation)                train -> model/, eval
    star            SFT on the starting model's successful corrections (wrong, then right)   train, eval
    pair-sft        SFT on repair pairs: a wrong first attempt, then a right sample of the same problem
    score-stage1    Stage I: reward on attempt 2, strong KL (β2 = 10·β1) on attempt 1         train, eval
    score           Stage II from the Stage I model: both attempts, bonus α·(r2 − r1)         train, eval

Every evaluation is greedy with two attempts (selfimprove.attempts); metrics.json holds Acc@t1, Acc@t2, Δ,
Δi→c, Δc→i per split with paired intervals, and score.json the table of all arms with each arm's change
from base (paired over problems: did Δ rise, did Δc→i fall). RL arms log every step (reward of each attempt,
Δ on the batch, KL of each attempt, entropy) to train_steps.jsonl. The KL anchor of every RL arm is the
starting model, as in the paper.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from typing import Any

from rich.console import Console
from rich.table import Table

from selfimprove.attempts import check_attempts, correct_attempts, next_prompts
from selfimprove.evaluate import evaluate_split, grade_all
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.metrics.correction import KEYS, LABELS, correction_change, episode_pairs
from selfimprove.metrics.summary import summarize_splits
from selfimprove.recipes.score_config import ScoreConfig
from selfimprove.recipes.stages import Models, keep_step_log, read_records, save_checkpoint, stage_seed, train_stage
from selfimprove.rundir import RunDir
from selfimprove.self_refine import self_refine
from selfimprove.tasks import check_nonempty, get_task
from selfimprove.train.rewards import task_spec
from selfimprove.types import Completion, Record, Task

RL_STAGES = {"single-turn-rl": "single", "score-stage1": "I", "score": "II"}
SFT_ARMS = ("star", "pair-sft")


def run_score(cfg: ScoreConfig, run: RunDir) -> list[dict[str, Any]]:
    """Run, or resume, every arm; print and write the table. Returns each arm's metrics."""
    check_run(cfg)
    task = get_task(cfg.task.name, **cfg.task.options)
    models = Models(cfg.model, cfg.sampling.batch_size)
    for t, arm in enumerate(cfg.score.arms):
        if arm in RL_STAGES or arm in SFT_ARMS:
            run.run_stage(t, "train", partial(train_arm, cfg, task, models, run, t, arm))
        run.run_stage(t, "eval", partial(eval_arm, cfg, task, models, run, t, arm))
    table = score_table(cfg, run)
    write_atomic(run.root / "score.json", json.dumps(table, indent=1) + "\n")
    Console().print(*(table_view(split, rows) for split, rows in table.items()))
    return run.rebuild_metrics_jsonl()


def check_run(cfg: ScoreConfig) -> None:
    """Before the run directory exists: the splits exist and the task has a correction instruction."""
    task = get_task(cfg.task.name, **cfg.task.options)
    check_attempts(task, 2)
    for split in [*cfg.eval.splits, cfg.score.train_split]:
        check_nonempty(task, split)


def arm_path(cfg: ScoreConfig, run: RunDir, arm: str) -> str:
    """The checkpoint an arm evaluates: the starting model for base and self-refine, else its own model/."""
    if arm in ("base", "self-refine"):
        return cfg.model.path
    return str(run.model_dir(cfg.score.arms.index(arm)))


def rl_rows(cfg: ScoreConfig, task: Task) -> list[dict[str, Any]]:
    """The training problems as RL rows (prompt, gold, task)."""
    spec = task_spec(cfg.task.name, cfg.task.options)
    return [{"prompt": task.format_prompt(p, cfg.task.shots), "gold": p.gold, "task": spec}
            for p in task.load(cfg.score.train_split, cfg.score.train_problems)]


def train_arm(cfg: ScoreConfig, task: Task, models: Models, run: RunDir, t: int, arm: str) -> None:
    """Train the arm's model into run.model_dir(t): RL arms with train/score.py, STaR and Pair-SFT with SFT."""
    if arm in SFT_ARMS:
        rows = correction_rows(cfg, task, models, run, t, arm)
        write_jsonl(run.iter_dir(t) / "train_sft.jsonl", rows)
        train_stage(models, run, t, "sft", rows, cfg.model.path, cfg.train, cfg.model.chat)
        return
    from transformers import set_seed

    from selfimprove.sampling.hf import load_model
    from selfimprove.train.score import train_score

    stage = RL_STAGES[arm]
    steps = {"I": cfg.score.stage1_steps, "II": cfg.score.stage2_steps}.get(
        stage, cfg.score.rl_steps or cfg.score.stage1_steps + cfg.score.stage2_steps)
    start = arm_path(cfg, run, "score-stage1") if arm == "score" else cfg.model.path
    work = run.work_dir(t)
    shutil.rmtree(work, ignore_errors=True)
    models.release()
    seed = stage_seed(cfg, t, "train")
    set_seed(seed)
    model, tokenizer = load_model(start, cfg.model.dtype, cfg.model.device)
    ref, _ = load_model(cfg.model.path, cfg.model.dtype, cfg.model.device)  # πref: the starting model
    model = train_score(model, tokenizer, rl_rows(cfg, task), cfg.score.trainer, steps, stage, work / "trainer", ref,
                        seed, cfg.model.chat)
    keep_step_log(work / "trainer", run.iter_dir(t))
    save_checkpoint(model, tokenizer, run, t)


def correction_rows(cfg: ScoreConfig, task: Task, models: Models, run: RunDir, t: int, arm: str) -> list[dict]:
    """SFT rows from the starting model's sampled two-attempt episodes on the training problems. STaR
    (Zelikman et al. 2022, on correction traces as in Kumar et al. 2024, Sec. 4): the second turn of episodes
    whose first attempt was wrong and second right. Pair-SFT (Welleck et al. 2023 as run by Kumar et al.): the
    second turn after a wrong first attempt, completed by a right sample of the same problem."""
    sampler = models.sampler(cfg.model.path)
    problems = task.load(cfg.score.train_split, cfg.score.train_problems)
    prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
    sampling = cfg.sampling.model_copy(update={"seed": stage_seed(cfg, t, "sample")})
    firsts = sampler.sample(prompts, sampling.model_copy(update={"n": cfg.score.traces_per_problem}).params())
    grade_all(task, problems, firsts, "first attempts")
    flat = [(p, x, c) for p, x, group in zip(problems, prompts, firsts) for c in group]
    if arm == "pair-sft":
        right = {p.id: [c.text for c in group if c.correct] for p, group in zip(problems, firsts)}
        return [{"prompt": second_turn(sampler, task, x, c), "completion": right[p.id][i % len(right[p.id])],
                 "problem_id": p.id, "source": "pair-sft"}
                for i, (p, x, c) in enumerate(flat) if not c.correct and right[p.id]]
    episodes = correct_attempts(sampler, task, [p for p, _, _ in flat], [x for _, x, _ in flat],
                                [c for _, _, c in flat], sampling.model_copy(update={"n": 1}).params(), 2)
    return [{"prompt": second_turn(sampler, task, x, e.attempts[0]), "completion": e.attempts[1].text,
             "problem_id": p.id, "source": "star"}
            for (p, x, _), e in zip(flat, episodes) if not e.attempts[0].correct and e.attempts[1].correct]


def second_turn(sampler: Any, task: Task, prompt: Any, first: Completion) -> Any:
    """The prompt of the second attempt after `first` (chat-aware, as evaluation renders it)."""
    return next_prompts(sampler, task, [prompt], [first.text])[0]


def eval_arm(cfg: ScoreConfig, task: Task, models: Models, run: RunDir, t: int, arm: str) -> None:
    """The arm's greedy two-attempt episodes on each eval split (self-refine: feedback, then refine)."""
    sampler = models.sampler(arm_path(cfg, run, arm))
    sampling = cfg.sampling.model_copy(update={"seed": stage_seed(cfg, t, "eval")})
    records: list[Record] = []
    for split in cfg.eval.splits:
        if arm != "self-refine":
            records += evaluate_split(sampler, task, split, sampling, cfg.eval, cfg.task.shots, t)
            continue
        problems = task.load(split, cfg.eval.limit)
        prompts = [task.format_prompt(p, cfg.task.shots) for p in problems]
        greedy = sampling.params(greedy=True)
        firsts = [g[0] for g in sampler.sample(prompts, greedy)]
        grade_all(task, problems, [[c] for c in firsts], f"{split} first attempts")
        episodes, feedback = self_refine(sampler, task, problems, prompts, firsts, greedy)
        records += [Record(p.id, t, split, x, p.gold, {**p.metadata, "feedback": f}, e)
                    for p, x, e, f in zip(problems, prompts, episodes, feedback)]
    write_jsonl(run.iter_dir(t) / "eval.jsonl", (r.to_dict() for r in records))
    metrics = {"iteration": t, "arm": arm, **summarize_splits(records, None, cfg.verdict.id_split, cfg.verdict.ood_split)}
    write_atomic(run.iter_dir(t) / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def score_table(cfg: ScoreConfig, run: RunDir) -> dict[str, list[dict[str, Any]]]:
    """{split: one row per arm: its correction metrics and intervals, and its paired change from base}."""
    episodes = {arm: read_records(run.iter_dir(t) / "eval.jsonl") for t, arm in enumerate(cfg.score.arms)}
    table: dict[str, list[dict[str, Any]]] = {}
    for split in cfg.eval.splits:
        base = episode_pairs([r for r in episodes["base"] if r.split == split])
        rows = []
        for t, arm in enumerate(cfg.score.arms):
            pairs = episode_pairs([r for r in episodes[arm] if r.split == split])
            metrics = run.load_metrics(t)[split]["correction"]
            steps = run.iter_dir(t) / "train_steps.jsonl"
            rows.append({"arm": arm, **metrics, "vs_base": correction_change(base, pairs) if arm != "base" else None,
                         "last_step": list(read_jsonl(steps))[-1] if steps.is_file() else None})
        table[split] = rows
    return table


def _cell(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "-"
    ci = f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]" if interval else ""
    return f"{100 * value:.1f}{ci}"


def table_view(split: str, rows: list[dict[str, Any]]) -> Table:
    """The table of Kumar et al. 2024 (Table 2): Acc@t1, Acc@t2, Δ, Δi→c, Δc→i per arm, with intervals, and
    the change of Δ and Δc→i from base (paired interval)."""
    table = Table("arm", *(LABELS[k] for k in KEYS), "Δ vs base", "Δc→i vs base", title=f"self-correction on {split}")
    for row in rows:
        change = row["vs_base"] or {}
        table.add_row(row["arm"], *(_cell(row[k], row["intervals"].get(k)) for k in KEYS),
                      *(_cell(change[k]["value"], change[k]["interval"]) if k in change else "-"
                        for k in ("delta", "delta_c2i")))
    return table
