"""LLM-as-a-judge: a judge is just another sampler (as in simple-evals), given a prompt template with
`{prompt}` and `{response}` and a parser that reads a score out of what it writes.

`Judge.score` renders one judge prompt per (prompt, response) pair, samples `repeats` judgments of each, and
parses each into a `Judgment`. A judgment without a score is kept with `score=None, parsed=False`: it is
counted as unparsed by the metrics (selfimprove.metrics.judging), never silently read as a 0 or a 5.
Placeholders are filled by plain replacement, not `str.format`, so braces in prompts, responses or the
template itself (JSON, code) need no escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from statistics import fmean
from typing import Any

from selfimprove.errors import UserError
from selfimprove.types import Prompt, Sampler, SamplingParams

PLACEHOLDERS = ("{prompt}", "{response}")
ScoreParser = Callable[[str], float | None]


@dataclass(frozen=True)
class Judgment:
    """One judge output: the score it gave (None when none could be read), its own text, and whether a
    score was found."""

    score: float | None
    text: str
    parsed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_template(template: str, where: str = "judge template") -> str:
    """The template, or a UserError naming the placeholder it lacks."""
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise UserError(f"{where} has no {' or '.join(missing)} placeholder; a judge template must contain both "
                        "{prompt} (the question) and {response} (the answer being judged)")
    return template


def prompt_text(prompt: Prompt) -> str:
    """The question as text: a text prompt as it is; a chat prompt's last user message (what was asked)."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else "\n".join(m["content"] for m in prompt)


def render(template: str, prompt: Prompt, response: str) -> str:
    """The judge prompt for one response, both filled in exactly as written (a judge trained on `{prompt}`
    followed by a response that starts with a space sees the same text here)."""
    return template.replace("{prompt}", prompt_text(prompt)).replace("{response}", response)


def mean_score(judgments: Sequence[Judgment | dict[str, Any]]) -> float | None:
    """The mean of the parsed scores (Yuan et al. 2024 average J = 3 judgments), None when none parsed."""
    scores = [j["score"] if isinstance(j, dict) else j.score for j in judgments]
    found = [s for s in scores if s is not None]
    return fmean(found) if found else None


class Judge:
    """A sampler + a template + a score parser + sampling parameters."""

    def __init__(self, sampler: Sampler, template: str, parser: ScoreParser, params: SamplingParams) -> None:
        self.sampler, self.template = sampler, check_template(template)
        self.parser, self.params = parser, params

    def judgment(self, text: str) -> Judgment:
        score = self.parser(text)
        return Judgment(score, text, score is not None)

    def score(self, items: Sequence[tuple[Prompt, str]], repeats: int = 1) -> list[list[Judgment]]:
        """`repeats` judgments of each (prompt, response) pair, in order. Repeated judgments are sampled, so
        `repeats` > 1 needs a temperature above 0 (greedy decoding would repeat one judgment)."""
        if repeats < 1:
            raise UserError(f"judge repeats must be at least 1 (got {repeats})")
        if repeats > 1 and self.params.greedy:
            raise UserError(f"{repeats} judgments per response need a judge temperature above 0: greedy decoding "
                            "gives the same judgment every time; set repeats to 1 or raise the temperature")
        if not items:
            return []
        prompts: list[Prompt] = [render(self.template, p, r) for p, r in items]
        outputs = self.sampler.sample(prompts, replace(self.params, n=repeats))
        return [[self.judgment(c.text) for c in outs] for outs in outputs]
