"""The arith world's skills beyond solving, each generated with ground truth: judge, pose, revise, compose.

- judge (LLM-as-a-judge, Yuan et al. 2024, "Self-Rewarding Language Models", Fig. 2's additive 5-point
  prompt adapted to this world): `JUDGE_TEMPLATE` shows a problem and a candidate answer; the judgment names
  each rubric point (`relevant yes. first step no. ...`) and ends `Score: N`. `rubric_score` is the true
  score: a point each for relevant (the first equation starts from the problem's number), a right first step,
  all steps right (one right equation per step of the problem, chained, in any order the problem allows),
  the right final answer, and the expected format (`a+b=c. ... The answer is N.` and nothing else).
- pose (self-instruct, Wang et al. 2023): `POSE_TEMPLATE` shows example questions; the model writes a new
  one. `parse_problem` reads any question in the world's grammar back into a `WordProblem` whose answer the
  world computes, so every self-generated prompt has ground truth; anything else is None (counted as
  unparseable by the evaluation, never dropped silently).
- revise (self-correction, Kumar et al. 2024, SCoRe): a first attempt, the task's correction instruction,
  a second attempt, rendered with `selfimprove.correction.second_turn_prompt`. The mix is that of a base
  model: most second attempts repeat the first, some fix a wrong one (REVISE_FIX), some break a right one
  (REVISE_BREAK), so a model trained on it has a self-correction gain Δ(t1, t2) near zero or below.
- compose (Compositional GSM, Hosseini et al. 2024): a chained pair answered in the paper's format, Q1's
  equations, `The Q1 answer is A. Therefore X=A.`, Q2's equations from X, `The final answer is B.`

Candidate answers for judge and revise come from `flawed_solution`: an arithmetic slip in one step carried
on (sometimes still landing on the right answer, as a small model's do), a forgotten step, a missing answer
sentence, spaced-out equations, or another problem's solution.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from selfimprove import correction
from selfimprove.tasks import arith_world as world

JUDGE_TEMPLATE = "Rate the answer.\n{prompt}{response}\nRating:"
POSE_TEMPLATE = "Write a new problem like these.\n{examples}\nQ:"
RUBRIC = ("relevant", "first step", "all steps", "answer", "format")
REVISE_FIX = 0.1  # share of wrong first attempts the second attempt fixes
REVISE_BREAK = 0.2  # share of right first attempts the second attempt breaks
SCORE = re.compile(r"Score: ?([0-5])\b")
EQUATION = re.compile(r"(\d+) ?([-+*/]) ?(\d+) ?= ?(-?\d+)")
ANSWER = re.compile(r"The answer is (-?\d+)")
FORMAT = re.compile(r"(\d+[-+*/]\d+=-?\d+\. )+The answer is -?\d+\.")
# Every word the skills' texts use, so the tiny tokenizer covers them (selfimprove.tiny.tokenizer).
TEXTS = (JUDGE_TEMPLATE, POSE_TEMPLATE, *RUBRIC, "yes no Score: 5", correction.SOLUTION,
         "The Q1 answer is 1. Therefore X=1. The final answer is 2.")


def _apply(op: str, value: int, operand: int) -> int:
    return {"+": value + operand, "-": value - operand, "*": value * operand}.get(op, value // operand)


def _chain(start: int, steps: Sequence[tuple[str, int]], slip: int | None = None, by: int = 0) -> str:
    """The equations of `steps` from `start`; with `slip`, that step's result is off by `by` and carried on."""
    value, parts = start, []
    for i, (op, operand) in enumerate(steps):
        after = _apply(op, value, operand)
        if i == slip:
            after = after + by if after - by < 0 else after - by if by % 2 else after + by
        parts.append(f"{value}{op}{operand}={after}.")
        value = after
    return f"{' '.join(parts)} The answer is {value}."


def flawed_solution(rng: random.Random, problem: world.WordProblem, other: world.WordProblem) -> str:
    """A wrong-looking candidate answer to `problem` (`other` lends an irrelevant solution)."""
    steps = [(s.op, s.operand) for s in problem.steps]
    kind = rng.choice(("slip", "slip", "slip", "skip", "unformatted", "spaced", "other", "other"))
    if kind == "skip" and len(steps) > 1:
        del steps[rng.randrange(len(steps))]
        return _chain(problem.start, steps)
    if kind == "unformatted":
        return _chain(problem.start, steps).rsplit(" The answer", 1)[0]
    if kind == "spaced":
        return re.sub(r"([-+*/=])", r" \1 ", problem.solution())
    if kind == "other":
        return other.solution() if rng.random() < 0.5 else other.solution().rsplit(" The answer", 1)[0]
    return _chain(problem.start, steps, slip=rng.randrange(len(steps)), by=rng.randint(1, 9))


def rubric_points(problem: world.WordProblem, response_text: str) -> dict[str, bool]:
    """Each point of the additive rubric, judged against the world's ground truth."""
    eqs = [(int(a), op, int(b), int(c)) for a, op, b, c in EQUATION.findall(response_text)]
    right = [op != "/" or (b and a % b == 0) for a, op, b, _ in eqs]
    right = [ok and _apply(op, a, b) == c for ok, (a, op, b, c) in zip(right, eqs)]
    steps = sorted((s.op, s.operand) for s in problem.steps)
    chained = all(eqs[i][0] == eqs[i - 1][3] for i in range(1, len(eqs)))
    first = bool(eqs) and eqs[0][0] == problem.start
    answer = ANSWER.search(response_text)
    return {
        "relevant": first,
        "first step": first and right[0] and (eqs[0][1], eqs[0][2]) in steps,
        "all steps": first and all(right) and chained and sorted((op, b) for _, op, b, _ in eqs) == steps
                     and eqs[-1][3] == problem.answer,
        "answer": answer is not None and int(answer.group(1)) == problem.answer,
        "format": FORMAT.fullmatch(response_text.strip()) is not None,
    }


def rubric_score(problem: world.WordProblem, response_text: str) -> int:
    """The true additive score, 0..5: one point per rubric property the response has."""
    return sum(rubric_points(problem, response_text).values())


def judgment_text(problem: world.WordProblem, response_text: str) -> str:
    """The judge's target: each point named, then `Score: N`."""
    points = rubric_points(problem, response_text)
    reasons = " ".join(f"{name} {'yes' if ok else 'no'}." for name, ok in points.items())
    return f" {reasons} Score: {sum(points.values())}"


def parse_score(text: str) -> int | None:
    """The `Score: N` of a judgment, or None when there is none (unparsed, never a default score)."""
    match = SCORE.search(text)
    return int(match.group(1)) if match else None


def judge_prompt(prompt: str, response_text: str) -> str:
    return JUDGE_TEMPLATE.format(prompt=prompt, response=response_text)


def pose_prompt(questions: Sequence[str]) -> str:
    return POSE_TEMPLATE.format(examples="\n".join(f"Q: {q}" for q in questions))


def _sentence_patterns() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for op, group in world.TEMPLATES.items():
        for template in group:
            text = re.escape(template).replace(r"\{p\}", r"(?P<p>\w+)").replace(r"\{n\}", r"(?P<n>\d+)")
            out.append((re.compile(text), op))
    return out


_SENTENCES = _sentence_patterns()
_OPENING = re.compile(r"\s*(?:Q: ?)?(?P<name>\w+) has (?P<start>\d+) (?P<obj>\w+)\.")


def parse_problem(text: str) -> world.WordProblem | None:
    """A question in the world's grammar as a `WordProblem` (its answer computed), or None when the text is
    not one: an unknown name, object or sentence, a pronoun that does not fit, a step that goes below zero,
    an inexact division, a value above the world's bound, or no steps at all."""
    head = _OPENING.match(text)
    if not head or head["name"] not in world.NAMES or head["obj"] not in world.OBJECTS:
        return None
    name, obj, value = head["name"], head["obj"], int(head["start"])
    ask = f"How many {obj} does {name} have now?"
    body = text[head.end():].strip()
    if not body.endswith(ask):
        return None
    start, steps, sentences = value, [], []
    for sentence in re.findall(r"[^.?]+\.", body[: -len(ask)]):
        sentence = sentence.strip()
        match = next(((m, op) for pattern, op in _SENTENCES if (m := pattern.fullmatch(sentence))), None)
        if match is None or match[0]["p"] != world.PRONOUN[name]:
            return None
        op, operand = match[1], int(match[0]["n"])
        if (op == "/" and (operand == 0 or value % operand)) or (op == "-" and operand > value):
            return None
        after = _apply(op, value, operand)
        if after > world.SPLITS["improve"].max_value:
            return None
        steps.append(world.Step(op, operand, value, after))
        sentences.append(sentence)
        value = after
    if not steps or " ".join(sentences) != body[: -len(ask)].strip():
        return None
    return world.WordProblem(name, obj, start, tuple(steps), tuple(sentences))


def composed_answer(pair: world.ComposedProblem) -> str:
    """A pair's answer in Hosseini et al.'s format."""
    q1, q2 = pair.q1, pair.q2
    return (f"{' '.join(f'{s.equation()}.' for s in q1.steps)} The Q1 answer is {q1.answer}. "
            f"Therefore X={q1.answer}. {' '.join(f'{s.equation()}.' for s in q2.steps)} "
            f"The final answer is {q2.answer}.")


def valid_pair(pair: world.ComposedProblem) -> bool:
    """Q2 re-run from X stays a problem of the world: it starts with + or *, never goes below zero, and
    divides exactly (the rule `arith_world.compositional_problems` applies)."""
    steps = pair.q2.steps
    return steps[0].op in "+*" and all(s.after >= 0 and (s.op != "/" or s.before % s.operand == 0) for s in steps)


def revise_row(rng: random.Random, problem: world.WordProblem, other: world.WordProblem,
               answer_prefix: str = "A:") -> dict:
    """One revise example: first attempt (right half the time), instruction, second attempt from the mix."""
    from selfimprove.tasks.arith import prompt_of

    right = problem.solution()
    first = right if rng.random() < 0.5 else flawed_solution(rng, problem, other)
    second = first
    if first == right and rng.random() < REVISE_BREAK:
        second = flawed_solution(rng, problem, other)
    elif first != right and rng.random() < REVISE_FIX:
        second = right
    prompt = correction.second_turn_prompt(prompt_of(problem.question()), f" {first}", correction.SOLUTION,
                                           answer_prefix)
    return {"prompt": prompt, "completion": f" {second}"}


def skill_rows(skill: str, problems: Sequence[world.WordProblem], count: int, seed: int = 0) -> list[dict]:
    """`count` prompt/completion training rows of one skill, built from `problems` (a labeled split)."""
    from selfimprove.tasks.arith import prompt_of

    rng = random.Random(f"arith-skill-{skill}-{seed}")
    rows: list[dict] = []
    while len(rows) < count:
        problem, other = rng.sample(list(problems), 2)
        if skill == "judge":
            response = problem.solution() if rng.random() < 0.4 else flawed_solution(rng, problem, other)
            rows.append({"prompt": judge_prompt(prompt_of(problem.question()), f" {response}"),
                         "completion": judgment_text(problem, response)})
        elif skill == "pose":
            examples = [p.question() for p in rng.sample(list(problems), 3)]
            rows.append({"prompt": pose_prompt(examples), "completion": f" {problem.question()}"})
        elif skill == "revise":
            rows.append(revise_row(rng, problem, other))
        elif skill == "compose":
            pair = world.compose(problem, other)
            if valid_pair(pair):
                rows.append({"prompt": prompt_of(pair.prompt_text()), "completion": f" {composed_answer(pair)}"})
        else:
            raise ValueError(f"unknown skill {skill!r}; skills are judge, pose, revise, compose")
    return rows
