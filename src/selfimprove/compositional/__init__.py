"""Compositional GSM (Hosseini et al. 2024, "Not All LLM Reasoners Are Created Equal"): pairs of GSM8K
problems where Q1's answer is a number X of Q2, built by re-running Q2's calculator chain, and the
reasoning gap Δ = S_comp - S1·S2.

Modules: numbers (question numbers), chain (calculator annotations), trace (number origins and
substitution), build (pairing), prompt (paper format, exemplars), task (the Task), gap (Δ and
distraction analysis), outcomes (records to per-pair outcomes), evaluate (S1, S2, S_comp, Δ of a model),
suite (the same for every model a self-improvement run evaluates: `eval.compositional`)."""

from selfimprove.compositional.build import BuildStats, build_from_file, build_pairs
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.gap import GapReport, reasoning_gap
from selfimprove.compositional.pairs import GSMItem, Pair, load_gsm8k, load_pairs

__all__ = [
    "BuildConfig",
    "BuildStats",
    "GSMItem",
    "GapReport",
    "Pair",
    "build_from_file",
    "build_pairs",
    "load_gsm8k",
    "load_pairs",
    "reasoning_gap",
]
