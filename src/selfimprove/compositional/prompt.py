"""Prompts of Compositional GSM and their few-shot exemplars (Hosseini et al. 2024, Sec. 2 and App. A).

A pair is shown as the paper shows it: `Let X be the answer to the Q1:\\nQ1: ...\\nSolve it and use the
value of X to solve Q2. Explain your answer step by step.\\nQ2: ...`. An exemplar answer solves Q1, says
`The Q1 answer is A1. Therefore X=A1.`, solves Q2 and ends `The final answer is A2.` Exemplars are built
from the train split only (the paper uses 8), with Q2's GSM8K solution rewritten for the new X.
Q1 alone and Q2 alone (for S1 and S2) use the plain `Q: ...\\nA:` format with GSM8K train exemplars.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from selfimprove.compositional.build import build_pairs
from selfimprove.compositional.chain import ChainError
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.numbers import stated_constants, to_fraction, unit_constants
from selfimprove.compositional.pairs import GSMItem, Pair, fmt
from selfimprove.compositional.trace import FALLBACK_CONSTANTS, Substitution, TracedSolution, substitute, trace

PAIR_TEMPLATE = (
    "Let X be the answer to the Q1:\nQ1: {q1}\n"
    "Solve it and use the value of X to solve Q2. Explain your answer step by step.\nQ2: {q2}"
)
_ANNOTATION = re.compile(r"<<[^<>]*>>")
_FINAL_LINE = re.compile(r"\n?####.*$", re.DOTALL)
_PROSE_NUMBER = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!\d)")


def pair_prompt(q1: str, q2: str) -> str:
    """The paper's composed question (zero-shot form)."""
    return PAIR_TEMPLATE.format(q1=q1.strip(), q2=q2.strip())


def single_prompt(question: str) -> str:
    """A GSM8K question alone, for the Q1 and Q2 sets (S1, S2)."""
    return f"Q: {question.strip()}\nA:"


def prose(solution: str) -> str:
    """A GSM8K solution as a model would write it: annotations and the `#### N` line removed, one line."""
    text = _ANNOTATION.sub("", _FINAL_LINE.sub("", solution))
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(s if s[-1] in ".!?" else f"{s}." for s in sentences)


def single_exemplar(item: GSMItem) -> str:
    """`Q: ...\\nA: <solution> The final answer is N.`"""
    return f"{single_prompt(item.question)} {prose(item.solution)} The final answer is {fmt(item.answer)}."


def _value_map(traced: TracedSolution, sub: Substitution) -> dict[Fraction, Fraction] | None:
    """Old value -> new value for every number the substitution changes; None when an old value is also
    a number that stays (a question number, an unchanged result, a constant the words imply), since prose
    mentioning it could then not be rewritten unambiguously."""
    number = traced.numbers[sub.index]
    changed = {number.value: sub.x}
    if number.percent:
        changed[number.value / 100] = sub.x / 100
    kept = {n.value for i, n in enumerate(traced.numbers) if i != sub.index}
    kept |= stated_constants(traced.question) | unit_constants(traced.question)
    for step, value in zip(traced.chain.steps, sub.values, strict=True):
        if value == step.stated:
            kept.add(step.stated)
        elif changed.setdefault(step.stated, value) != value:
            return None
    return None if kept & set(changed) else changed


def rewrite_q2_solution(pair: Pair) -> str | None:
    """Q2's GSM8K solution with every changed number rewritten (annotations and prose alike), or None
    when that cannot be done unambiguously, or when the prose shows a number that neither the question
    nor the chain explains (computed in prose from the replaced number, it would be stale); then the pair
    is not used as an exemplar."""
    try:
        traced = trace(pair.q2_question_original, pair.q2_solution_original)
        index = next(i for i, n in enumerate(traced.numbers) if n.start == pair.replaced_start)
        sub = substitute(traced, index, Fraction(pair.q1_answer))
    except (ChainError, StopIteration):
        return None
    changed = _value_map(traced, sub)
    if changed is None:
        return None
    known = set(changed) | {n.value for n in traced.numbers} | set(FALLBACK_CONSTANTS)
    known |= {v for step in traced.chain.steps for v in (*step.literals, step.stated)}
    known |= stated_constants(traced.question) | unit_constants(traced.question)
    text = prose(pair.q2_solution_original)
    if any(to_fraction(m.group()) not in known for m in _PROSE_NUMBER.finditer(text)):
        return None

    def new_number(m: re.Match[str]) -> str:
        value = to_fraction(m.group())
        return fmt(changed[value]) if value in changed else m.group()

    return _PROSE_NUMBER.sub(new_number, text)


def pair_exemplar(pair: Pair, q2_solution: str) -> str:
    """One solved pair in the paper's answer format."""
    return (
        f"{pair_prompt(pair.q1_question, pair.q2_question)}\nA: {prose(pair.q1_solution)} "
        f"The Q1 answer is {pair.q1_answer}. Therefore X={pair.q1_answer}. {q2_solution} "
        f"The final answer is {pair.q2_answer}."
    )


def pair_exemplars(train: Sequence[GSMItem], shots: int, seed: int = 0) -> list[str]:
    """`shots` solved pairs built from train problems (never test), deterministic for a seed."""
    if shots <= 0:
        return []
    pairs, _ = build_pairs(train, train, BuildConfig(seed=seed, num_pairs=4 * shots + 8))
    exemplars = []
    for pair in pairs:
        solution = rewrite_q2_solution(pair)
        if solution is not None:
            exemplars.append(pair_exemplar(pair, solution))
        if len(exemplars) == shots:
            break
    return exemplars


def with_shots(exemplars: Sequence[str], prompt: str) -> str:
    """Exemplars, then the question in the same form, ending at `A:` for the model to continue."""
    if not exemplars:
        return prompt
    tail = prompt if prompt.endswith("A:") else f"{prompt}\nA:"
    return "\n\n".join([*exemplars, tail])
