"""A pairwise judge: which of two responses to the same prompt is better (the MT-Bench judge of Zheng et al.
2023, "Judging LLM-as-a-Judge", whose answer format `[[A]]`, `[[B]]` or `[[C]]` for a tie this parser reads).

LLM judges favour a position (Zheng et al. 2023, Sec. 3.3), so each pair is judged in both orders and a
preference counts only as the mean of the two: 1.0 = the first response is better in both orders, 0.0 = the
second, 0.5 = a tie or a disagreement between orders. An output without a decision is unparsed (None), and a
pair with an unparsed order has no preference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from selfimprove.errors import UserError
from selfimprove.judges import Judgment, prompt_text
from selfimprove.types import Prompt, Sampler, SamplingParams

PLACEHOLDERS = ("{prompt}", "{response_a}", "{response_b}")
TEMPLATE = """Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. You should choose the assistant that follows the user's instructions and answers the user's question better. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the order in which the responses were presented does not influence your decision. Do not allow the length of the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as possible. After providing your explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.

[User Question]
{prompt}

[The Start of Assistant A's Answer]
{response_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{response_b}
[The End of Assistant B's Answer]"""  # noqa: E501 (MT-Bench's pairwise system prompt, then its question/answers layout)
CHOICE = re.compile(r"\[\[([ABC])\]\]")
VALUE = {"A": 1.0, "B": 0.0, "C": 0.5}


def parse_choice(text: str) -> float | None:
    """1.0 for `[[A]]`, 0.0 for `[[B]]`, 0.5 for `[[C]]` (the last one written), None for none."""
    found = CHOICE.findall(text)
    return VALUE[found[-1]] if found else None


class PairwiseJudge:
    """A sampler + a template with {prompt}, {response_a}, {response_b} + sampling parameters."""

    def __init__(self, sampler: Sampler, params: SamplingParams, template: str = TEMPLATE) -> None:
        missing = [p for p in PLACEHOLDERS if p not in template]
        if missing:
            raise UserError(f"pairwise judge template has no {', '.join(missing)} placeholder; it must contain "
                            "{prompt}, {response_a} and {response_b}")
        self.sampler, self.params, self.template = sampler, params, template

    def render(self, prompt: Prompt, a: str, b: str) -> str:
        return (self.template.replace("{prompt}", prompt_text(prompt))
                .replace("{response_a}", a).replace("{response_b}", b))

    def prefer(self, items: Sequence[tuple[Prompt, str, str]]) -> list[tuple[float | None, list[Judgment]]]:
        """For each (prompt, first, second): the preference for `first` (None when an order is unparsed) and
        the two judgments (first shown as A, then shown as B)."""
        prompts: list[Prompt] = [r for p, a, b in items for r in (self.render(p, a, b), self.render(p, b, a))]
        outs = self.sampler.sample(prompts, replace(self.params, n=1)) if prompts else []
        results = []
        for i in range(len(items)):
            texts = [outs[2 * i][0].text, outs[2 * i + 1][0].text]
            ab, ba = parse_choice(texts[0]), parse_choice(texts[1])
            judgments = [Judgment(ab, texts[0], ab is not None), Judgment(ba, texts[1], ba is not None)]
            results.append((None if ab is None or ba is None else (ab + (1 - ba)) / 2, judgments))
        return results
