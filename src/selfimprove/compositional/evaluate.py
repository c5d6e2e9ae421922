"""Evaluate a model on Compositional GSM (Hosseini et al. 2024, "Not All LLM Reasoners Are Created Equal"):
S1 (Q1 alone), S2 (Q2 alone, X replaced by its value), S_comp (the composed pair: both answers right), the
reasoning gap Δ = S_comp - S1·S2 with percentile-bootstrap confidence intervals, and the distraction
analysis (Q1 alone vs inside the composition; Q2 given Q1 was right inside it), all with greedy decoding.

Any `Sampler` works (the local HF sampler or an OpenAI-compatible server), and any task whose pair
problems carry `q1_prompt`, `q1_gold`, `q2_prompt`, `q2_gold` in their metadata: `compositional_gsm`
(split `pairs`) and the arith world (split `compositional`). Two answer modes: `cot` (chain of thought,
the paper's format `The Q1 answer is A. Therefore X=A. ... The final answer is B.`) and `code` (a Python
program that prints the answers, run in the sandbox; see code_mode.py).

The self-improvement loop measures every iteration's model this way when `eval.compositional.enabled` is
set (suite.py: one call in the evaluate stage; transcripts in each iteration's compositional.jsonl). From other
code, `compositional_metrics(sampler, task_or_task_section, CompositionalSection(...), ...)` returns the
metrics dict alone; `evaluate_compositional` also returns the graded transcripts (Records).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from selfimprove.compositional.code_mode import (
    arith_seed_pairs,
    code_exemplars,
    code_prompt,
    printed_answers,
    question_text,
    run_programs,
)
from selfimprove.compositional.gap import Estimate, GapReport
from selfimprove.compositional.task import FINAL_STRICT, Q1_FLEXIBLE, Q1_STRICT
from selfimprove.compositional.verdicts import PairVerdicts
from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.sandbox import SandboxConfig
from selfimprove.sections import TaskSection
from selfimprove.tasks import arith_world as world
from selfimprove.tasks import get_task
from selfimprove.types import Completion, ExtractMode, Problem, Prompt, Record, Sampler, SamplingParams, Task
from selfimprove.verify.steps import record_steps

Mode = Literal["cot", "code"]
PAIR_SPLITS = {"compositional_gsm": "pairs", "arith": "compositional"}
REQUIRED = ("q1_prompt", "q1_gold", "q2_prompt", "q2_gold")
ROLES = ("pair", "q1", "q2")
EXTRACT_MODES: tuple[ExtractMode, ...] = ("strict", "flexible")
Answers = list[tuple[str | None, str | None]]  # per problem: (Q1's answer inside a pair, the final answer)


class CompositionalSection(Section):
    """How to measure the reasoning gap (Hosseini et al. 2024)."""

    modes: list[Mode] = Field(
        default_factory=lambda: ["cot"],
        min_length=1,
        description="Answer modes: cot (chain of thought) and/or code (a Python program that prints the answer, "
        "run in the sandbox); each gets its own S1, S2, S_comp and gap.",
    )
    limit: int | None = Field(None, ge=1, description="Only the first N pairs (null: eval.limit, else all).")
    shots: int | None = Field(
        None, ge=0, description="Worked examples before each prompt (null: task.shots): solved pairs before a pair, "
        "solved single problems before Q1 or Q2 alone.",
    )
    n_resamples: int = Field(10_000, ge=1, description="Bootstrap resamples of the pairs for confidence intervals.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the bootstrap intervals.")
    seed: int = Field(0, description="Seed of the bootstrap and of the code exemplars' selection.")
    sandbox_timeout: float = Field(10.0, gt=0, le=60, description="Seconds each code answer may run in the sandbox.")


@dataclass
class CompositionalResult:
    """The metrics dict (what metrics.json holds under "compositional") and the graded transcripts."""

    metrics: dict[str, Any]
    records: list[Record]


def pair_split(task: Task) -> str:
    """The split holding the composed pairs of a task."""
    if task.name not in PAIR_SPLITS:
        raise UserError(
            f"the reasoning gap needs a task with composed pairs ({', '.join(PAIR_SPLITS)}), not {task.name!r}"
        )
    return PAIR_SPLITS[task.name]


def load_pairs(task: Task, limit: int | None) -> list[Problem]:
    """The pair problems, checked to carry the Q1-alone and Q2-alone prompts and golds."""
    problems = task.load(pair_split(task), limit)
    for p in problems:
        if not set(REQUIRED) <= set(p.metadata):
            raise UserError(f"pair {p.id} of {task.name} lacks {sorted(set(REQUIRED) - set(p.metadata))} in metadata")
    return problems


def single_problem(pair: Problem, role: str) -> Problem:
    """Q1 or Q2 of a pair as a problem of its own (ids `<pair id>/q1`, `/q2`, as compositional_gsm's splits)."""
    return Problem(f"{pair.id}/{role}", pair.metadata[f"{role}_prompt"], str(pair.metadata[f"{role}_gold"]),
                   {"kind": role, "pair_id": pair.id})


def arith_pair_exemplars(shots: int, seed: int) -> str:
    """Solved pairs composed from arith seed problems, in the paper's answer format: Q1's equations,
    `The Q1 answer is A. Therefore X=A.`, Q2's equations from X, `The final answer is B.`"""
    blocks = []
    for c in arith_seed_pairs(shots, seed):
        answer = (f"{_equations(c.q1)} The Q1 answer is {c.q1.answer}. Therefore X={c.q1.answer}. "
                  f"{_equations(c.q2)} The final answer is {c.q2.answer}.")
        blocks.append(f"Q: {c.prompt_text()}\nA: {answer}\n\n")
    return "".join(blocks)


def _equations(problem: world.WordProblem) -> str:
    return " ".join(f"{s.equation()}." for s in problem.steps)


def cot_prompts(task: Task, problems: list[Problem], shots: int) -> dict[str, list[Prompt]]:
    """Chain-of-thought prompts per role; the task formats them (so they equal its own split prompts),
    except arith pairs with shots, whose task exemplars are single problems: they get solved pairs."""
    if task.name == "arith" and shots > 0:
        prefix = arith_pair_exemplars(shots, getattr(task, "seed", 0))
        pair = [prefix + str(p.prompt) for p in problems]
    else:
        pair = [task.format_prompt(p, shots) for p in problems]
    singles = {role: [task.format_prompt(single_problem(p, role), shots) for p in problems] for role in ("q1", "q2")}
    return {"pair": pair, **singles}


def code_prompts(task: Task, problems: list[Problem], shots: int, seed: int) -> dict[str, list[Prompt]]:
    """Code-mode prompts per role (see code_mode.py for the format and the exemplars)."""
    pair_shots, single_shots = (code_exemplars(task, pair, shots, seed) for pair in (True, False))
    out: dict[str, list[Prompt]] = {"pair": [code_prompt(question_text(str(p.prompt)), True, pair_shots)
                                             for p in problems]}
    for role in ("q1", "q2"):
        out[role] = [code_prompt(question_text(str(p.metadata[f"{role}_prompt"])), False, single_shots)
                     for p in problems]
    return out


def greedy(
    sampler: Sampler, prompts: list[Prompt], max_new_tokens: int, stop: Sequence[str],
    known: Mapping[str, Completion] | None = None,
) -> list[Completion]:
    """One greedy completion per prompt; prompts already answered greedily (`known`, e.g. the eval
    command's own records of the same prompts) are reused instead of sampled again."""
    known = known or {}
    todo = [i for i, p in enumerate(prompts) if not (isinstance(p, str) and p in known)]
    params = SamplingParams(1, 0.0, 1.0, max_new_tokens, tuple(stop))
    fresh = iter(sampler.sample([prompts[i] for i in todo], params) if todo else [])
    out = []
    for p in prompts:
        if isinstance(p, str) and p in known:  # a fresh copy: judging it here must not touch the caller's record
            out.append(Completion(known[p].text, known[p].num_tokens, known[p].logprob))
        else:
            out.append(next(fresh)[0])
    return out


def cot_answers(task: Task, role: str, text: str, mode: ExtractMode) -> tuple[str | None, str | None]:
    """(Q1 inside a pair, final answer) of a chain-of-thought answer. Tasks with their own pair reading
    (compositional_gsm's `extract_q1`) use it; others read `The Q1 answer is N` (flexible: also `X = N`)
    and `The final answer is N`, falling back to the task's own answer format."""
    if role != "pair":
        return None, task.extract(text, mode)
    extract_q1 = getattr(task, "extract_q1", None)
    if extract_q1 is not None:
        return extract_q1(text, mode), task.extract(text, mode)
    q1 = (Q1_STRICT if mode == "strict" else Q1_FLEXIBLE).search(text)
    final = FINAL_STRICT.search(text) if mode == "strict" else None
    return (_number(q1.group(1)) if q1 else None), (_number(final.group(1)) if final else task.extract(text, mode))


def _number(text: str) -> str:
    return text.replace(",", "").rstrip(".")


@dataclass
class ModeRun:
    """One answer mode on all pairs: prompts, greedy completions and read answers per role, the sandbox
    status of code answers, and the per-pair verdicts per extraction mode."""

    mode: Mode
    prompts: dict[str, list[Prompt]]
    completions: dict[str, list[Completion]]
    answers: dict[str, dict[ExtractMode, Answers]]
    statuses: dict[str, list[str]]
    verdicts: dict[ExtractMode, PairVerdicts]


def read_answers(
    task: Task, mode: Mode, texts: dict[str, list[str]], timeout: float
) -> tuple[dict[str, dict[ExtractMode, Answers]], dict[str, list[str]]]:
    """Answers per role and extraction mode; code answers are run in the sandbox first (all at once)."""
    if mode == "cot":
        answers = {r: {em: [cot_answers(task, r, t, em) for t in texts[r]] for em in EXTRACT_MODES} for r in ROLES}
        return answers, {}
    # Keep 64 KiB of output, not the default 4 KiB tail: a pair answer's first printed line is X.
    results = run_programs([t for r in ROLES for t in texts[r]], SandboxConfig(timeout=timeout, tail_bytes=1 << 16))
    n = len(texts["pair"])
    by_role = {r: results[i * n : (i + 1) * n] for i, r in enumerate(ROLES)}
    answers = {r: {em: [printed_answers(res, em) for res in by_role[r]] for em in EXTRACT_MODES} for r in ROLES}
    for r in ("q1", "q2"):  # a single question's answer is the last printed line, whatever came before
        answers[r] = {em: [(None, last) for _, last in a] for em, a in answers[r].items()}
    return answers, {r: [res.status for res in by_role[r]] for r in ROLES}


def pair_verdicts(task: Task, problems: list[Problem], answers: dict[str, dict[ExtractMode, Answers]],
                  em: ExtractMode) -> PairVerdicts:
    """Per-pair verdicts: Q1 alone, Q2 alone, and Q1 and Q2 inside the composed answer."""
    q1_gold = [str(p.metadata["q1_gold"]) for p in problems]
    q2_gold = [str(p.metadata["q2_gold"]) for p in problems]
    pair = answers["pair"][em]
    return PairVerdicts(
        [p.id for p in problems],
        [task.verify(a[1], g) for a, g in zip(answers["q1"][em], q1_gold)],
        [task.verify(a[1], g) for a, g in zip(answers["q2"][em], q2_gold)],
        [task.verify(a[0], g) for a, g in zip(pair, q1_gold)],
        [task.verify(a[1], g) for a, g in zip(pair, q2_gold)],
    )


def run_mode(
    sampler: Sampler, task: Task, problems: list[Problem], mode: Mode, section: CompositionalSection, shots: int,
    max_new_tokens: int, stop: Sequence[str], known: Mapping[str, Completion] | None,
) -> ModeRun:
    """Prompt, sample greedily (all roles in one batch), read and verify one answer mode."""
    if mode == "cot":
        prompts = cot_prompts(task, problems, shots)
    else:
        prompts = code_prompts(task, problems, shots, section.seed)
        stop, known = ("```",), None  # a program ends at its closing fence; a blank line may be inside it
    flat = greedy(sampler, [p for r in ROLES for p in prompts[r]], max_new_tokens, stop, known)
    n = len(problems)
    check = getattr(task, "check_steps", None) if mode == "cot" else None
    for c in flat if check is not None else []:  # right answer, wrong reasoning (selfimprove.verify.steps)
        record_steps(c, check(c.text))
    completions = {r: flat[i * n : (i + 1) * n] for i, r in enumerate(ROLES)}
    texts = {r: [c.text for c in completions[r]] for r in ROLES}
    answers, statuses = read_answers(task, mode, texts, section.sandbox_timeout)
    verdicts = {em: pair_verdicts(task, problems, answers, em) for em in EXTRACT_MODES}
    return ModeRun(mode, prompts, completions, answers, statuses, verdicts)


def mode_records(run: ModeRun, problems: list[Problem], split: str, iteration: int) -> list[Record]:
    """The graded transcripts of one mode, split `<pair split>/<mode>/<role>`: each completion carries its
    answer and verdict (a pair's `correct` is S_comp's: both halves right), strict and flexible."""
    records = []
    for role in ROLES:
        for i, p in enumerate(problems):
            c = run.completions[role][i]
            meta: dict[str, Any] = {"pair_id": p.id, "mode": run.mode, "role": role}
            for em, suffix in (("strict", ""), ("flexible", "_flexible")):
                v = run.verdicts[em]  # type: ignore[index]
                first, last = run.answers[role][em][i]  # type: ignore[index]
                correct = {"pair": v.comp_q1[i] and v.comp_q2[i], "q1": v.q1_alone[i], "q2": v.q2_alone[i]}[role]
                setattr(c, f"answer{suffix}", last)
                setattr(c, f"correct{suffix}", correct)
                if role == "pair":
                    meta |= {f"q1_answer{suffix}": first, f"q1_correct{suffix}": v.comp_q1[i],
                             f"q2_correct{suffix}": v.comp_q2[i], "q1_gold": str(p.metadata["q1_gold"])}
            if run.statuses:
                meta["sandbox_status"] = run.statuses[role][i]
            gold = p.gold if role == "pair" else str(p.metadata[f"{role}_gold"])
            pid = p.id if role == "pair" else f"{p.id}/{role}"
            records.append(Record(pid, iteration, f"{split}/{run.mode}/{role}", run.prompts[role][i], gold, meta, c))
    return records


def mean_estimate(hits: Sequence[bool], n_resamples: int, confidence: float, seed: int) -> Estimate:
    """A proportion with its percentile-bootstrap interval over pairs (as gap.py does for the gap)."""
    a = np.asarray(hits, dtype=bool)
    means = a[np.random.default_rng(seed).integers(0, a.size, size=(n_resamples, a.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Estimate(float(a.mean()), float(low), float(high))


def gap_summary(v: PairVerdicts, section: CompositionalSection) -> dict[str, Any]:
    """The GapReport as a dict (each statistic {value, low, high}), plus Q2's accuracy inside the composition
    whatever happened to Q1 (which separates a missed Q1 statement from a missed Q2)."""
    report: GapReport = v.gap(section.n_resamples, section.confidence, section.seed)
    out = report.to_dict()
    out["q2_in_composition"] = asdict(mean_estimate(v.comp_q2, section.n_resamples, section.confidence, section.seed))
    return _without_nan(out)


def _without_nan(value: Any) -> Any:
    """NaN (a conditional accuracy with nothing to condition on) as None, so metrics.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def evaluate_compositional(
    sampler: Sampler, task: Task, section: CompositionalSection | None = None, *, shots: int = 0,
    max_new_tokens: int = 256, stop: Sequence[str] = (), iteration: int = 0,
    known: Mapping[str, Completion] | None = None,
) -> CompositionalResult:
    """S1, S2, S_comp, Δ and the distraction analysis per answer mode and extraction mode, and the judged
    transcripts. `shots` is used unless `section.shots` is set; `known` maps prompts to greedy completions
    already sampled (reused for chain-of-thought prompts, so `selfimprove eval` does not sample twice)."""
    section = section or CompositionalSection()
    shots = section.shots if section.shots is not None else shots
    problems = load_pairs(task, section.limit)
    split = pair_split(task)
    metrics: dict[str, Any] = {
        "task": task.name, "split": split, "n_pairs": len(problems), "shots": shots, "decoding": "greedy",
        "confidence": section.confidence, "n_resamples": section.n_resamples, "modes": {},
    }
    records: list[Record] = []
    for mode in section.modes:
        run = run_mode(sampler, task, problems, mode, section, shots, max_new_tokens, stop, known)
        metrics["modes"][mode] = {em: gap_summary(run.verdicts[em], section) for em in EXTRACT_MODES}
        records += mode_records(run, problems, split, iteration)
    return CompositionalResult(metrics, records)


def compositional_metrics(
    sampler: Sampler, task_or_cfg: Task | TaskSection, section: CompositionalSection | None = None, *,
    shots: int | None = None, max_new_tokens: int = 256, stop: Sequence[str] = (), iteration: int = 0,
) -> dict[str, Any]:
    """The "compositional" metrics of one model (see the module docstring for the loop's call). A
    TaskSection gives the task (built with its options) and the default shots."""
    if isinstance(task_or_cfg, TaskSection):
        task = get_task(task_or_cfg.name, **task_or_cfg.options)
        shots = task_or_cfg.shots if shots is None else shots
    else:
        task = task_or_cfg
    result = evaluate_compositional(sampler, task, section, shots=shots or 0, max_new_tokens=max_new_tokens,
                                    stop=stop, iteration=iteration)
    return result.metrics
