"""The sample browser: for a few chosen problems, the greedy completion of every iteration side by side.

Numbers say *that* pass@1 moved; transcripts say *how*. We show the problems that moved: those solved at
the last iteration but not at iteration 0 (members of the improvement set IS(T) of metrics.json first),
those solved at iteration 0 but not at the last (regressions), those answered right through a wrong step
at the last iteration (step check, selfimprove.verify.steps), and a few seeded random others. Counts
and text length are capped so the HTML stays small.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pydantic import Field

from selfimprove.config import Section
from selfimprove.metrics.records import greedy_grade
from selfimprove.report.load import Run, pick
from selfimprove.types import Completion, Prompt, Record

Key = tuple[str, str]


class BrowserSection(Section):
    improved: int = Field(6, ge=0, description="Problems solved greedily at the last iteration, not at iteration 0.")
    regressed: int = Field(6, ge=0, description="Problems solved greedily at iteration 0, not at the last iteration.")
    random: int = Field(4, ge=0, description="Further problems chosen at random (seeded).")
    wrong_steps: int = Field(
        4, ge=0, description="Problems whose greedy answer at the last iteration is right through a wrong step.")
    max_chars: int = Field(500, ge=40, description="Longest completion text shown; longer texts are cut.")
    seed: int = Field(0, description="Seed of the random choice.")


@dataclass
class Cell:
    """One iteration's greedy completion of a problem, with its grade and how many samples were right."""

    iteration: int
    text: str
    answer: str | None
    correct: bool | None
    samples_correct: int
    samples: int
    steps_wrong: list[str] = field(default_factory=list)  # wrong statements of a step check

    @property
    def wrong_step(self) -> bool:
        """Right answer, wrong reasoning: the answer is right and the step check found a wrong statement."""
        return bool(self.correct) and bool(self.steps_wrong)


@dataclass
class Shown:
    """One problem in the browser: its prompt, gold answer, why it was chosen, and one cell per iteration."""

    split: str
    problem_id: str
    prompt: str
    gold: str
    difficulty: object
    tags: list[str]
    cells: list[Cell | None] = field(default_factory=list)

    @property
    def wrong_step(self) -> bool:
        return any(c is not None and c.wrong_step for c in self.cells)


def prompt_text(prompt: Prompt) -> str:
    """Plain text of a prompt; chat messages as 'role: content' lines."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in prompt)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def _attempts_text(completion: Completion, max_chars: int) -> str:
    """A completion's text; a multi-attempt episode (self-correction) shows every attempt with its grade, so
    the browser shows how a second attempt fixed or broke the first."""
    if not completion.attempts:
        return _cut(completion.text, max_chars)
    grade = {True: "right", False: "wrong", None: "not graded"}
    return "\n\n".join(f"[attempt {i}: {grade[a.correct]}] {_cut(a.text, max_chars)}"
                        for i, a in enumerate(completion.attempts, 1))


def _cell(iteration: int, record: Record | None, max_chars: int) -> Cell | None:
    if record is None:
        return None
    greedy = record.greedy
    text = "(no greedy completion)" if greedy is None else _attempts_text(greedy, max_chars)
    right = sum(bool(c.correct) for c in record.samples)
    wrong = list(greedy.steps_wrong) if greedy is not None and greedy.steps_ok is False else []
    return Cell(iteration, text, greedy.answer if greedy else None, greedy_grade(record), right, len(record.samples),
                wrong)


def _moved(first: dict[Key, Record], last: dict[Key, Record], now: bool) -> list[Key]:
    """Keys whose greedy grade went from `not now` at iteration 0 to `now` at the last iteration."""
    before = not now
    return [k for k, r in last.items() if k in first and greedy_grade(r) is now and greedy_grade(first[k]) is before]


def _pick(first: dict[Key, Record], last: dict[Key, Record], in_is: set[str], opts: BrowserSection,
          id_split: str) -> list[tuple[Key, str]]:
    """(key, why) of the problems to show: improved (IS(T) members first), regressed, then random."""
    order = {k: (k[0] != id_split, i) for i, k in enumerate(last)}
    improved = sorted(_moved(first, last, True), key=lambda k: (k[1] not in in_is, order[k]))
    regressed = sorted(_moved(first, last, False), key=order.__getitem__)
    picked = [(k, "improved") for k in improved[: opts.improved]]
    picked += [(k, "regressed") for k in regressed[: opts.regressed]]
    taken = {k for k, _ in picked}
    lucky = [k for k in last if k not in taken and last[k].greedy is not None and last[k].greedy.correct
             and last[k].greedy.steps_ok is False]  # right answer, wrong reasoning at the last iteration
    picked += [(k, "wrong step") for k in sorted(lucky, key=order.__getitem__)[: opts.wrong_steps]]
    taken |= {k for k, _ in picked}
    rest = [k for k in last if k not in taken]
    return picked + [(k, "random") for k in random.Random(opts.seed).sample(rest, min(opts.random, len(rest)))]


def choose(run: Run, opts: BrowserSection, id_split: str) -> list[Shown]:
    """The problems to show, each with its greedy completion at every iteration; ID-split problems first."""
    by_iter = [{(r.split, r.problem_id): r for r in it.records()} for it in run.iterations]
    first, last = by_iter[0], by_iter[-1]
    in_is = set(pick(run.iterations[-1].metrics, "improvement", "problem_ids") or [])
    shown = []
    for key, why in _pick(first, last, in_is, opts, id_split):
        record = last[key]
        tags = [why] + (["in IS(T)"] if why == "improved" and key[1] in in_is else [])
        cells = [_cell(it.index, recs.get(key), opts.max_chars) for it, recs in zip(run.iterations, by_iter)]
        shown.append(Shown(key[0], key[1], prompt_text(record.prompt), record.gold,
                           record.metadata.get("difficulty"), tags, cells))
    return shown
