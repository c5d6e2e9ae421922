"""The prompts a model wrote for itself (self-instruct; Wang et al. 2023, Yuan et al. 2024 Sec. 2.2):
how many were usable, how new they are, and how hard.

- validity: the share of generated prompts that parsed; kept = the valid ones that are not duplicates
  (rejections are counted by reason: unparseable, duplicate);
- novelty: the share of kept prompts that are not, word for word (case and spacing aside), a seed prompt or a
  prompt kept in an earlier iteration, and the share of their word 4-grams found in no seed prompt (a prompt
  stitched from seed sentences is new as a whole, not in its parts);
- difficulty drift: the distribution of a known difficulty (in the arith world, the number of steps, exact
  because the world parses every problem) against the seed prompts'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from statistics import fmean
from typing import Any

NGRAM = 4


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def novelty(kept: Sequence[str], seeds: Iterable[str], earlier: Iterable[str] = ()) -> dict[str, float | None]:
    """Exact novelty against seeds and earlier iterations; 4-gram novelty against the seeds."""
    seeds = list(seeds)
    seen_seed, seen_before = {normalize(s) for s in seeds}, {normalize(s) for s in earlier}
    seed_grams = set().union(*(ngrams(s) for s in seeds)) if seeds else set()
    grams = [g for p in kept for g in ngrams(p)]
    if not kept:
        return {"new_vs_seed": None, "new_vs_earlier": None, "ngram_novelty": None}
    return {
        "new_vs_seed": fmean(normalize(p) not in seen_seed for p in kept),
        "new_vs_earlier": fmean(normalize(p) not in seen_before for p in kept),
        "ngram_novelty": fmean(g not in seed_grams for g in grams) if grams else None,
    }


def shares(values: Iterable[Any]) -> dict[str, float]:
    counts = Counter(str(v) for v in values)
    total = sum(counts.values())
    return {k: counts[k] / total for k in sorted(counts)} if total else {}


def difficulty_drift(kept: Sequence[int | None], seeds: Sequence[int | None]) -> dict[str, Any]:
    """Mean and distribution of the kept prompts' difficulty next to the seed prompts' (None = unknown)."""
    known, seed_known = [d for d in kept if d is not None], [d for d in seeds if d is not None]
    return {
        "mean_difficulty": fmean(known) if known else None,
        "seed_mean_difficulty": fmean(seed_known) if seed_known else None,
        "difficulty_shares": shares(known),
        "seed_difficulty_shares": shares(seed_known),
    }


def prompt_metrics(generated: int, rejected: dict[str, int], kept: Sequence[str], seeds: Sequence[str],
                   earlier: Sequence[str], kept_difficulty: Sequence[int | None],
                   seed_difficulty: Sequence[int | None]) -> dict[str, Any]:
    """One iteration's self-instruct summary."""
    return {
        "generated": generated,
        "kept": len(kept),
        "validity": 1 - rejected.get("unparseable", 0) / generated if generated else None,
        "rejected": dict(sorted(rejected.items())),
        **novelty(kept, seeds, earlier),
        **difficulty_drift(kept_difficulty, seed_difficulty),
    }
