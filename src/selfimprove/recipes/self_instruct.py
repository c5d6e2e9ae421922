"""Self-instruct for the self-rewarding recipe (Yuan et al. 2024, Sec. 2.2, after Wang et al. 2023): the
model writes new questions few-shot from the task's seed questions; the parseable, non-duplicate ones become
this iteration's prompts, the rest are counted by reason.

The few-shot prompt lists seed questions one per line as `Q: <question>` and ends with `Q:`, so the model
continues with one new question (cut at the first newline). In the arith world this is the world's own pose
prompt (`arith_skills.POSE_TEMPLATE`, the format its seed model learned) and "parseable" is exact: the world
parses the question back into a problem (`arith_skills.parse_problem`) and computes its answer, so every kept
prompt has ground truth and a known difficulty (its number of steps). For any other task nothing can parse
a free-text question, so "parseable" means shaped like one: a single line of at least MIN_WORDS words that
ends with a question mark; such prompts have no gold answer (truth metrics then need `prompts.source:
split`). A kept prompt is rendered in the task's own format, by putting the new question where a seed
problem's question stood.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from selfimprove.errors import UserError
from selfimprove.metrics.prompts import normalize
from selfimprove.types import Problem

MIN_WORDS = 5
GENERIC_POSE = "Write a new question like these.\n{examples}\nQ:"


@dataclass
class Posed:
    """One iteration's self-instruct outcome: the kept problems and the count of each rejection."""

    problems: list[Problem]
    generated: int
    rejected: Counter[str] = field(default_factory=Counter)


def seed_questions(seeds: Sequence[Problem]) -> list[str]:
    """The seed problems' questions (metadata['question']); a clear error when there are none."""
    if not seeds:
        raise UserError("self-instruct needs seed prompts, but the seed split holds no problems; choose a "
                        "non-empty split in self_rewarding.prompts.split")
    missing = [p.id for p in seeds if not p.metadata.get("question")]
    if missing:
        raise UserError(f"self-instruct needs each seed problem's question (metadata['question']); "
                        f"{missing[0]} has none, so this task cannot pose new prompts: use prompts.source=split")
    return [str(p.metadata["question"]) for p in seeds]


def pose_prompts(questions: Sequence[str], count: int, shots: int, seed: int, arith: bool) -> list[str]:
    """`count` few-shot prompts, each with `shots` seed questions drawn at random."""
    template = GENERIC_POSE
    if arith:
        from selfimprove.tasks.arith_skills import POSE_TEMPLATE

        template = POSE_TEMPLATE
    rng = random.Random(seed)
    k = min(shots, len(questions))
    return [template.replace("{examples}", "\n".join(f"Q: {q}" for q in rng.sample(list(questions), k)))
            for _ in range(count)]


def read_question(text: str) -> str:
    """The generated question: the first line, without a leading `Q:`."""
    line = text.strip().split("\n", 1)[0].strip()
    return line.removeprefix("Q:").strip()


def as_problem(question: str, template: Problem, index: int, t: int, arith: bool) -> Problem | None:
    """A parseable question as a Problem in the task's format (gold computed in the arith world), or None."""
    meta = {"split": "self-instruct", "source": "self-instruct", "question": question, "iteration": t}
    prompt = str(template.prompt).replace(str(template.metadata["question"]), question)
    if arith:
        from selfimprove.tasks.arith_skills import parse_problem

        problem = parse_problem(question)
        if problem is None:
            return None
        meta.update(difficulty=len(problem.steps), solution=problem.solution())
        return Problem(f"self-instruct-{t}-{index}", prompt, str(problem.answer), meta)
    if len(question.split()) < MIN_WORDS or not question.endswith("?"):
        return None
    return Problem(f"self-instruct-{t}-{index}", prompt, "", meta)


def keep(texts: Sequence[str], seeds: Sequence[Problem], earlier: Sequence[str], t: int, arith: bool) -> Posed:
    """The parseable generated questions that are neither a seed question, an earlier iteration's prompt, nor
    a repeat within this iteration."""
    seen = {normalize(q) for q in seed_questions(seeds)} | {normalize(q) for q in earlier}
    posed = Posed([], len(texts))
    for text in texts:
        question = read_question(text)
        problem = as_problem(question, seeds[0], len(posed.problems), t, arith) if question else None
        if problem is None:
            posed.rejected["unparseable"] += 1
        elif normalize(question) in seen:
            posed.rejected["duplicate"] += 1
        else:
            seen.add(normalize(question))
            posed.problems.append(problem)
    return posed
