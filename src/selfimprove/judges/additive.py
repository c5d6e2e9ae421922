"""The additive 5-point judge prompt of Yuan et al. 2024 ("Self-Rewarding Language Models", Fig. 2), and its
score parser.

The template is the paper's text (straight quotes) with its two slots as `{prompt}` and `{response}`. The judge ends with
`Score: <total points>`; `parse_score` reads the last such line. A judgment without one, or with a number
outside 0..5, is unparsed (None): the caller counts it as such rather than reading it as 0 or 5.
"""

from __future__ import annotations

import re

TEMPLATE = """Review the user's question and the corresponding response using the additive 5-point scoring system described below. Points are accumulated based on the satisfaction of each criterion:
- Add 1 point if the response is relevant and provides some information related to the user's inquiry, even if it is incomplete or contains some irrelevant content.
- Add another point if the response addresses a substantial portion of the user's question, but does not completely resolve the query or provide a direct answer.
- Award a third point if the response answers the basic elements of the user's question in a useful way, regardless of whether it seems to have been written by an AI Assistant or if it has elements typically found in blogs or search results.
- Grant a fourth point if the response is clearly written from an AI Assistant's perspective, addressing the user's question directly and comprehensively, and is well-organized and helpful, even if there is slight room for improvement in clarity, conciseness or focus.
- Bestow a fifth point for a response that is impeccably tailored to the user's question by an AI Assistant, without extraneous information, reflecting expert knowledge, and demonstrating a high-quality, engaging, and insightful answer.

User: {prompt}
<response>{response}</response>
After examining the user's instruction and the response:
- Briefly justify your total score, up to 100 words.
- Conclude with the score using the format: "Score: <total points>"

Remember to assess from the AI Assistant perspective, utilizing web search knowledge as necessary. To evaluate the response in alignment with this additive scoring model, we'll systematically attribute points based on the outlined criteria."""  # noqa: E501 (the paper's text, one criterion per line)

MAX_SCORE = 5
# "Score: 4", "**Score:** 4", "score: 3.5", "Score: 4/5", "Score = 4" - the number right after the label.
SCORE = re.compile(r"score\s*\**\s*[:=]\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_score(text: str, max_score: int = MAX_SCORE) -> float | None:
    """The last `Score: N` in a judgment, or None when there is none or N is outside 0..max_score (a judge
    that echoes the format, `Score: <total points>`, or writes `Score: 7`, gave no usable score)."""
    found = SCORE.findall(text)
    if not found:
        return None
    value = float(found[-1])
    return value if 0 <= value <= max_score else None
