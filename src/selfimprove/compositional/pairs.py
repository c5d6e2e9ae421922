"""The records of Compositional GSM: a GSM8K item read from its JSONL, and a built pair with provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from selfimprove.compositional.chain import final_answer
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl


@dataclass(frozen=True)
class GSMItem:
    """One GSM8K problem; `id` is `gsm8k-<split>-<line index>` so that a pair can be traced to its lines."""

    id: str
    question: str
    solution: str

    @property
    def answer(self) -> Fraction:
        return final_answer(self.solution)


@dataclass(frozen=True)
class Pair:
    """One Compositional GSM problem: Q1 unmodified; Q2 with one number replaced by X = Q1's answer, and
    Q2's answer recomputed by re-running its calculator chain (`q2_steps`, X already substituted)."""

    id: str
    q1_id: str
    q1_question: str
    q1_solution: str
    q1_answer: int
    q2_id: str
    q2_question_original: str
    q2_solution_original: str
    q2_question: str
    q2_question_filled: str
    replaced_text: str
    replaced_start: int
    replaced_end: int
    q2_answer_original: int
    q2_answer: int
    q2_steps: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["q2_steps"] = list(self.q2_steps)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Pair:
        names = {f.name for f in fields(cls)}
        missing = names - set(row)
        if missing:
            raise UserError(
                f"a compositional pair is missing {sorted(missing)}; rebuild the file with build-compositional"
            )
        return cls(**{**{k: row[k] for k in names}, "q2_steps": tuple(row["q2_steps"])})


def load_gsm8k(path: Path, split: str | None = None) -> list[GSMItem]:
    """GSM8K rows (`question`, `answer`) of a JSONL file; ids use `split`, by default the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"GSM8K file {path} not found; give the path of train.jsonl or test.jsonl")
    name = split or path.stem
    items = []
    for i, row in enumerate(read_jsonl(path)):
        if not isinstance(row, dict) or not {"question", "answer"} <= set(row):
            raise UserError(f"{path}: row {i} has no 'question' and 'answer'; this is not a GSM8K file")
        items.append(GSMItem(f"gsm8k-{name}-{i}", str(row["question"]), str(row["answer"])))
    return items


def load_pairs(path: Path) -> list[Pair]:
    """Pairs from a JSONL written by `build_from_file`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"compositional pairs file {path} not found; build it with `selfimprove build-compositional`")
    return [Pair.from_dict(row) for row in read_jsonl(path)]


def fmt(value: Fraction) -> str:
    """A number as a solution would write it: 24, 0.25, or 10/3 when no finite decimal exists."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for p in (2, 5):
        while denominator % p == 0:
            denominator //= p
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return str(Decimal(value.numerator) / Decimal(value.denominator))


def integer_answer(value: Fraction) -> int | None:
    """`value` as an int when it is a whole number, else None."""
    return value.numerator if value.denominator == 1 else None
