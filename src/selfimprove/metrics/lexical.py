"""Lexical diversity: Distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
Conversation Models"), the number of unique n-grams divided by the total number of n-grams, pooled over
a group of completions (here: one problem's correct, or incorrect, samples). Identical samples repeat
every n-gram and pull the ratio down; Wu et al. 2024 use it as the lexical part of output diversity.

Tokenization is deliberately simple and language-neutral: the text is lowercased and split into runs of
word characters (letters, digits, underscore) and single punctuation/operator characters, with
whitespace dropped. So `12+7=19.` is the six tokens `12 + 7 = 19 .`, and
`Natalia's` is `natalia ' s`. Numbers stay whole, which keeps equation chains comparable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercased word runs and single punctuation characters; whitespace is dropped."""
    return TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of a token list (none when it is shorter than n)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct-n over the pooled n-grams of `texts`; None when they hold no n-gram at all."""
    if n < 1:
        raise ValueError(f"distinct-n needs n >= 1, got {n}")
    grams = [g for text in texts for g in ngrams(tokenize(text), n)]
    return len(set(grams)) / len(grams) if grams else None
