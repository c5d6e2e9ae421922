"""Every skill of a model in the arith world, measured against the world's ground truth
(selfimprove.tasks.arith_skills): solve, judge, pose, revise, compose. `selfimprove eval` reports them with
`skills.enabled=true`.

- solve: greedy pass@1 on the first `limit` test problems.
- judge (Yuan et al. 2024, Sec. 3.1 "EFT"): on each test problem, the reference solution and a flawed one
  (`arith_skills.flawed_solution`); agreement = share of judgments whose `Score: N` equals the true rubric
  score, parsed = share with a score at all, pairwise accuracy = share of pairs with different true scores
  that the judge orders the same way (a tie or an unparsed score counts as wrong).
- pose (self-instruct): `limit` prompts of three seed questions, sampled; parseable = share the world reads
  back as a problem, novel = share parseable and neither one of the examples nor a seed-split question.
- revise (Kumar et al. 2024): the greedy first attempt, the correction instruction, the greedy second attempt;
  Acc@t1, Acc@t2, Δ, Δi→c, Δc→i (selfimprove.metrics.correction).
- compose (Hosseini et al. 2024): greedy answers to Q1 alone, Q2 alone (X filled in) and the pair;
  S_comp counts a pair when Q1's stated answer and the final answer are both right; Δ = S_comp − S1·S2.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field
from rich.table import Table

from selfimprove import correction
from selfimprove.compositional.evaluate import cot_answers
from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.metrics.correction import correction_metrics
from selfimprove.tasks import arith_skills as skills
from selfimprove.tasks import arith_world as world
from selfimprove.tasks.arith import ArithTask, prompt_of
from selfimprove.types import Sampler, SamplingParams


class SkillsSection(Section):
    enabled: bool = Field(False, description="Report every skill of the model (arith only): solve, judge, pose, "
                                             "revise, compose (selfimprove.evaluate_skills).")
    limit: int = Field(200, ge=2, description="Problems (or prompts) per skill.")
    pose_temperature: float = Field(0.75, ge=0, description="Sampling temperature of posed problems.")
    max_new_tokens: int = Field(160, ge=8, description="Longest answer of any skill, in tokens.")


def texts_of(sampler: Sampler, prompts: list[str], params: SamplingParams) -> list[str]:
    """The first completion's text for each prompt."""
    return [group[0].text for group in sampler.sample(list(prompts), params)]


def right_answers(task: ArithTask, texts: list[str], golds: list[int]) -> list[bool]:
    """Whether each text's strict answer is its gold answer."""
    return [task.verify(task.extract(t), str(g)) for t, g in zip(texts, golds)]


def judge_metrics(sampler: Sampler, problems: list[world.WordProblem], params: SamplingParams) -> dict[str, Any]:
    rng = random.Random("arith-skills-judge")
    pairs = [(p, p.solution(), skills.flawed_solution(rng, p, problems[i - 1])) for i, p in enumerate(problems)]
    prompts = [skills.judge_prompt(prompt_of(p.question()), f" {r}") for p, a, b in pairs for r in (a, b)]
    scores = [skills.parse_score(t) for t in texts_of(sampler, prompts, params)]
    truth = [skills.rubric_score(p, r) for p, a, b in pairs for r in (a, b)]
    ordered = [(scores[2 * i], scores[2 * i + 1], truth[2 * i], truth[2 * i + 1]) for i in range(len(pairs))]
    ordered = [o for o in ordered if o[2] != o[3]]
    right = [sa is not None and sb is not None and (sa - sb) * (ta - tb) > 0 for sa, sb, ta, tb in ordered]
    return {
        "n": len(scores),
        "parsed": sum(s is not None for s in scores) / len(scores),
        "agreement": sum(s == t for s, t in zip(scores, truth)) / len(scores),
        "pairwise_accuracy": sum(right) / len(right) if right else None,
        "pairs": len(right),
    }


def pose_metrics(sampler: Sampler, seed_questions: list[str], count: int, params: SamplingParams) -> dict[str, Any]:
    rng = random.Random("arith-skills-pose")
    examples = [rng.sample(seed_questions, 3) for _ in range(count)]
    texts = texts_of(sampler, [skills.pose_prompt(e) for e in examples], params)
    known = set(seed_questions)
    parsed = [skills.parse_problem(t.strip()) for t in texts]
    novel = [p is not None and p.question() not in known and p.question() not in e for p, e in zip(parsed, examples)]
    return {"n": count, "parseable": sum(p is not None for p in parsed) / count, "novel": sum(novel) / count,
            "unparseable": sum(p is None for p in parsed)}


def revise_metrics(sampler: Sampler, task: ArithTask, problems: list[world.WordProblem], first: list[str],
                   params: SamplingParams) -> dict[str, Any]:
    """Second attempts after the model's own first attempts `first` (its greedy answers to `problems`)."""
    prompts = [prompt_of(p.question()) for p in problems]
    golds = [p.answer for p in problems]
    second_prompts = [str(correction.second_turn_prompt(q, a, task.correction, task.answer_prefix))
                      for q, a in zip(prompts, first)]
    second = texts_of(sampler, second_prompts, params)
    return correction_metrics(right_answers(task, first, golds), right_answers(task, second, golds))


def compose_metrics(sampler: Sampler, task: ArithTask, count: int, params: SamplingParams) -> dict[str, Any]:
    pairs = task.load("compositional", count)
    q1 = texts_of(sampler, [str(p.metadata["q1_prompt"]) for p in pairs], params)
    q2 = texts_of(sampler, [str(p.metadata["q2_prompt"]) for p in pairs], params)
    both = texts_of(sampler, [str(p.prompt) for p in pairs], params)
    s1 = [task.verify(task.extract(t), p.metadata["q1_gold"]) for t, p in zip(q1, pairs)]
    s2 = [task.verify(task.extract(t), p.metadata["q2_gold"]) for t, p in zip(q2, pairs)]
    answers = [cot_answers(task, "pair", t, "strict") for t in both]
    comp = [task.verify(a1, p.metadata["q1_gold"]) and task.verify(a2, p.gold) for (a1, a2), p in zip(answers, pairs)]
    n = len(pairs)
    S1, S2, S_comp = sum(s1) / n, sum(s2) / n, sum(comp) / n
    return {"n": n, "s1": S1, "s2": S2, "s_comp": S_comp, "gap": S_comp - S1 * S2}


def check_skills_task(task: Any) -> None:
    """Skills have ground truth in the arith world only."""
    if getattr(task, "name", None) != "arith":
        raise UserError(f"skills.enabled=true: skills are measured in the arith world only, not on "
                        f"{getattr(task, 'name', task)!r}; drop skills.enabled or use --task arith")


def skill_metrics(sampler: Sampler, task: ArithTask, cfg: SkillsSection) -> dict[str, Any]:
    """Every skill's numbers (see the module docstring), greedy except pose."""
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=cfg.max_new_tokens)
    problems = world.split_problems("test", min(cfg.limit, task.sizes["test"]), task.seed)
    seed_questions = [p.question() for p in world.split_problems("seed", task.sizes["seed"], task.seed)]
    solve = texts_of(sampler, [prompt_of(p.question()) for p in problems], greedy)
    pose = SamplingParams(n=1, temperature=cfg.pose_temperature, top_p=0.95, max_new_tokens=cfg.max_new_tokens)
    return {
        "solve": {"n": len(problems), "pass@1": sum(right_answers(task, solve, [p.answer for p in problems])) / len(problems)},
        "judge": judge_metrics(sampler, problems, greedy),
        "pose": pose_metrics(sampler, seed_questions, cfg.limit, pose),
        "revise": revise_metrics(sampler, task, problems, solve, greedy),
        "compose": compose_metrics(sampler, task, min(cfg.limit, task.sizes["compositional"]), greedy),
    }


def skills_table(metrics: dict[str, Any]) -> Table:
    """One row per skill with its numbers (percent for shares)."""
    table = Table("skill", "n", "measured", title="skills (ground truth of the arith world)")
    for skill, values in metrics.items():
        shown = ", ".join(f"{k} {100 * v:.1f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in values.items() if k != "n")
        table.add_row(skill, str(values["n"]), shown)
    return table
