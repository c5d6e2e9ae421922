"""Task `csqa`: CommonsenseQA (Talmor et al. 2019, arXiv 1811.00937), five-way multiple choice, v1.11.

Rows are read in either layout: the Hugging Face one (`question` string, `choices` {label, text}) and the
original release's (`question` {stem, choices: [{label, text}]}). The answer is a letter.
Strict extraction needs the stated form `The answer is (X)` (also `answer is X`, `Answer: X`); flexible
extraction also accepts a bare leading letter (`B`, `(B) library`), else the last parenthesized letter.
The v1.11 test set has no public answers, so the evaluation split is `validation` (1,221 questions).
"""

from __future__ import annotations

import re
from typing import Any

from selfimprove import correction
from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.types import ExtractMode, Problem, Prompt

_ORIGIN = "CommonsenseQA v1.11: {} of the official release, or a `datasets` export of tau/commonsense_qa"
SOURCES = {
    "train": data.Source(
        ("train_rand_split.jsonl", "train_v1.11_hf_format.jsonl"),
        (data.HubSplit("tau/commonsense_qa", None, "train"),),
        _ORIGIN.format("train_rand_split.jsonl"),
    ),
    "validation": data.Source(
        ("dev_v1.11_hf_format.jsonl", "dev_rand_split.jsonl"),
        (data.HubSplit("tau/commonsense_qa", None, "validation"),),
        _ORIGIN.format("dev_rand_split.jsonl"),
    ),
}
INSTRUCTION = (
    'Answer the multiple-choice question. End with "The answer is (X)", where X is the letter of the choice.\n\n'
)
LETTERS = "ABCDE"
# A lowercase letter counts only in parentheses ("the answer is (c)"), so "the answer is a bank" is no answer.
STRICT = re.compile(r"(?i:answer is|answer:)\s*(\([A-Ea-e]\)|[A-E](?![A-Za-z]))")
LEADING = re.compile(r"^\s*\(?([A-E])(?:\)|[.:]|\s*$)")  # "B", "(B) library", "B." but not "A bank is"
PARENTHESIZED = re.compile(r"\(([A-E])\)")


def normalize_row(row: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """(question, [(label, text), ...]) from either the Hugging Face or the original CQA layout."""
    question = row["question"]
    if isinstance(question, dict):  # original release: {"stem": ..., "choices": [{"label", "text"}]}
        return question["stem"], [(c["label"], c["text"]) for c in question["choices"]]
    return question, list(zip(row["choices"]["label"], row["choices"]["text"], strict=True))


def question_block(question: str, choices: list[tuple[str, str]]) -> str:
    options = " ".join(f"({label}) {text}" for label, text in choices)
    return f"Question: {question.strip()}\nAnswer Choices: {options}\nAnswer:"


def to_problem(split: str, index: int, row: dict[str, Any]) -> Problem:
    question, choices = normalize_row(row)
    gold = str(row.get("answerKey") or "").strip().upper()
    if gold not in {label for label, _ in choices}:
        raise UserError(f"csqa {split} row {index}: answerKey {gold!r} is not one of its choices (a test file?)")
    meta = {
        "split": split,
        "source": "csqa",
        "question": question,
        "choices": [{"label": label, "text": text} for label, text in choices],
        "concept": row.get("question_concept") or _original_concept(row),
    }
    return Problem(f"csqa-{row.get('id', index)}", INSTRUCTION + question_block(question, choices), gold, meta)


class CSQATask:
    """CommonsenseQA v1.11: train (9,741, from the hub or a local train_rand_split.jsonl) and validation
    (1,221). Options: data_dir, seed (few-shot choice), hub (allow download)."""

    name = "csqa"
    correction = correction.SOLUTION  # the second-turn instruction of self-correction (Kumar et al. 2024)
    answer_prefix = "Answer:"  # what opens an answer in a plain-text prompt (selfimprove.correction)
    splits = ("train", "validation")
    stop = ("Question:",)

    def __init__(self, data_dir: str | None = None, seed: int = 1234, hub: bool = True) -> None:
        self.data_dir, self.seed, self.hub = data_dir, seed, hub
        self.store = data.SplitStore(self.name, self.splits, SOURCES, to_problem, data_dir, hub, seed,
                                     ("validation",))

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        return self.store.load(split, limit)

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """Zero-shot: instruction and question. Few-shot: train questions answered `The answer is (X).`"""
        if shots <= 0:
            return problem.prompt
        exemplars = self.exemplars(problem, shots)
        blocks = [f"{_block(e)} The answer is ({e.gold})." for e in exemplars]
        return "\n\n".join([*blocks, _block(problem)])

    def exemplars(self, problem: Problem, shots: int) -> list[Problem]:
        """The train problems shown before `problem`: the same for every problem given `seed`, never itself."""
        return self.store.exemplars(problem, shots)

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        found = STRICT.findall(text)
        if found or mode == "strict":
            return str(found[0]).strip("()").upper() if found else None
        for pattern in (LEADING, PARENTHESIZED):
            letters = pattern.findall(text)
            if letters:
                return str(letters[-1] if pattern is PARENTHESIZED else letters[0]).upper()
        return None

    def verify(self, answer: str | None, gold: str) -> bool:
        return answer is not None and answer.strip().upper() == gold.strip().upper()


def _block(problem: Problem) -> str:
    choices = [(c["label"], c["text"]) for c in problem.metadata["choices"]]
    return question_block(problem.metadata["question"], choices)


def _original_concept(row: dict[str, Any]) -> str | None:
    question = row["question"]
    return question.get("question_concept") if isinstance(question, dict) else None
