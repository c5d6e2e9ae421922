"""Numeric answers scored the way lm-evaluation-harness scores GSM8K.

The harness's gsm8k task compares strings by exact match after deleting the regexes `,`, `\\$` and a
trailing `\\.` from both prediction and reference (`regexes_to_ignore` in gsm8k.yaml). We do the same, so
our accuracies are comparable with published harness numbers: `1,000`, `$1000` and `1000.` all equal
`1000`, while `1000.00` does not (as in the harness).
"""

from __future__ import annotations

import re

# A number as people write it: optional sign and dollar, thousands separators, optional decimals.
NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def normalize_number(text: str) -> str:
    """`text` without commas, dollar signs, surrounding spaces and one trailing period."""
    cleaned = text.strip().replace(",", "").replace("$", "")
    return cleaned[:-1] if cleaned.endswith(".") else cleaned


def last_number(text: str) -> str | None:
    """The last number in `text`, normalized; None when there is none."""
    found = NUMBER.findall(text)
    return normalize_number(found[-1]) if found else None


def same_number(answer: str | None, gold: str) -> bool:
    """Exact match after normalization (an empty answer never matches)."""
    if answer is None:
        return False
    normalized = normalize_number(answer)
    return bool(normalized) and normalized == normalize_number(gold)
