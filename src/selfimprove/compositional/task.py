"""Task `compositional_gsm`: Compositional GSM pairs (Hosseini et al. 2024) and the Q1-alone and Q2-alone
sets that the reasoning gap compares them with.

Splits: `pairs` (the composed problems; gold is Q2's new answer and metadata holds Q1's), `q1` (each
pair's Q1 alone, for S1) and `q2` (each pair's Q2 with X replaced by its value, for S2). Problem ids of
`q1`/`q2` are `<pair id>/q1`, `<pair id>/q2`. Strict extraction reads `The final answer is N` (and
`The Q1 answer is N` for Q1 inside a pair); flexible extraction takes the last number (and `X = N`).
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from selfimprove.compositional.build import build_pairs
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.pairs import Pair, load_gsm8k, load_pairs
from selfimprove.compositional.prompt import pair_exemplars, pair_prompt, single_exemplar, single_prompt, with_shots
from selfimprove.errors import UserError
from selfimprove.types import ExtractMode, Problem, Prompt
from selfimprove.verify.steps import StepCheck, check_steps

_NUM = r"\$?\s*(-?(?:\d[\d,]*)?\.?\d+)"
FINAL_STRICT = re.compile(rf"The final answer is\s*{_NUM}", re.IGNORECASE)
Q1_STRICT = re.compile(rf"The Q1 answer is\s*{_NUM}", re.IGNORECASE)
Q1_FLEXIBLE = re.compile(rf"(?:The Q1 answer is|\bX\s*=)\s*{_NUM}", re.IGNORECASE)
NUMBER = re.compile(r"-?(?:\d[\d,]*)?\.?\d+")


class PairOutcome(NamedTuple):
    """Whether a composed answer got Q1 (as `The Q1 answer is N`) and Q2 (the final answer) right."""

    q1_correct: bool
    q2_correct: bool


def _clean(number: str) -> str:
    return number.replace(",", "").rstrip(".")


def gsm8k_file(data_dir: Path, split: str) -> Path:
    """`<data_dir>/gsm8k/<split>.jsonl` (the shared data root) or `<data_dir>/<split>.jsonl`."""
    for path in (data_dir / "gsm8k" / f"{split}.jsonl", data_dir / f"{split}.jsonl"):
        if path.is_file():
            return path
    raise UserError(f"no GSM8K {split}.jsonl in {data_dir}/gsm8k or {data_dir}; set data_dir to the data folder")


class CompositionalGSMTask:
    """Pairs from a built JSONL (`pairs_path`) or built on the fly from GSM8K test (`data_dir`);
    few-shot exemplars always come from GSM8K train under `data_dir`."""

    name = "compositional_gsm"
    splits = ("pairs", "q1", "q2")

    def __init__(
        self,
        data_dir: str | None = None,
        pairs_path: str | None = None,
        seed: int = 0,
        build: dict[str, Any] | None = None,
        source_split: str = "test",
    ) -> None:
        if data_dir is None and pairs_path is None:
            raise UserError("compositional_gsm needs data_dir (a GSM8K folder) or pairs_path (built pairs JSONL)")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.pairs_path = Path(pairs_path) if pairs_path is not None else None
        self.seed, self.source_split = seed, source_split
        try:
            self.config = BuildConfig(**{"seed": seed, **(build or {})})
        except ValidationError as e:
            raise UserError(f"compositional_gsm: bad build option: {e}") from None
        self._pairs: list[Pair] | None = None
        self._exemplars: dict[tuple[str, int], list[str]] = {}

    def pairs(self) -> list[Pair]:
        """The pairs, loaded or built once."""
        if self._pairs is None:
            if self.pairs_path is not None:
                self._pairs = load_pairs(self.pairs_path)
            else:
                assert self.data_dir is not None
                items = load_gsm8k(gsm8k_file(self.data_dir, self.source_split))
                self._pairs, _ = build_pairs(items, items, self.config)
        return self._pairs

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"compositional_gsm has no split {split!r}; choose one of {list(self.splits)}")
        pairs = self.pairs()[:limit] if limit is not None else self.pairs()
        return [_PROBLEM[split](p) for p in pairs]

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """Zero-shot: the problem's prompt. With shots: solved train exemplars of the same kind first."""
        if shots <= 0:
            return problem.prompt
        kind = "pair" if problem.metadata.get("kind") == "pair" else "single"
        return with_shots(self._shots(kind, shots), str(problem.prompt))

    def _shots(self, kind: str, shots: int) -> list[str]:
        if (kind, shots) not in self._exemplars:
            if self.data_dir is None:
                raise UserError("few-shot prompts need GSM8K train exemplars: set data_dir, or use shots=0")
            train = load_gsm8k(gsm8k_file(self.data_dir, "train"))
            if kind == "pair":
                self._exemplars[(kind, shots)] = pair_exemplars(train, shots, self.seed)
            else:
                chosen = random.Random(self.seed).sample(range(len(train)), min(shots, len(train)))
                self._exemplars[(kind, shots)] = [single_exemplar(train[i]) for i in chosen]
        return self._exemplars[(kind, shots)]

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        """The final answer: first `The final answer is N` (strict) or the last number (flexible)."""
        if mode == "strict":
            match = FINAL_STRICT.search(text)
            return _clean(match.group(1)) if match else None
        numbers = NUMBER.findall(text)
        return _clean(numbers[-1]) if numbers else None

    def extract_q1(self, text: str, mode: ExtractMode = "strict") -> str | None:
        """Q1's answer inside a composed answer: `The Q1 answer is N` (strict), or also `X = N` (flexible)."""
        match = (Q1_STRICT if mode == "strict" else Q1_FLEXIBLE).search(text)
        return _clean(match.group(1)) if match else None

    def check_steps(self, text: str) -> StepCheck:
        """Every arithmetic statement of a chain of thought, exactly (as for GSM8K)."""
        return check_steps(text)

    def verify(self, answer: str | None, gold: str) -> bool:
        if answer is None:
            return False
        try:
            return Fraction(_clean(answer)) == Fraction(_clean(gold))
        except (ValueError, ZeroDivisionError):
            return False

    def verify_pair(self, problem: Problem, text: str, mode: ExtractMode = "strict") -> PairOutcome:
        """Both halves of a composed answer; S_comp counts a pair only when both are right."""
        q1 = self.verify(self.extract_q1(text, mode), str(problem.metadata["q1_gold"]))
        return PairOutcome(q1, self.verify(self.extract(text, mode), problem.gold))


def _pair_problem(p: Pair) -> Problem:
    meta = {
        "split": "pairs",
        "source": "compositional_gsm",
        "kind": "pair",
        "q1_id": p.q1_id,
        "q2_id": p.q2_id,
        "q1_prompt": single_prompt(p.q1_question),
        "q1_gold": str(p.q1_answer),
        "q2_prompt": single_prompt(p.q2_question_filled),
        "q2_gold": str(p.q2_answer),
        "replaced_text": p.replaced_text,
        "q2_answer_original": p.q2_answer_original,
    }
    return Problem(p.id, pair_prompt(p.q1_question, p.q2_question), str(p.q2_answer), meta)


def _q1_problem(p: Pair) -> Problem:
    meta = {"split": "q1", "source": "compositional_gsm", "kind": "q1", "pair_id": p.id, "gsm8k_id": p.q1_id}
    return Problem(f"{p.id}/q1", single_prompt(p.q1_question), str(p.q1_answer), meta)


def _q2_problem(p: Pair) -> Problem:
    meta = {"split": "q2", "source": "compositional_gsm", "kind": "q2", "pair_id": p.id, "gsm8k_id": p.q2_id}
    return Problem(f"{p.id}/q2", single_prompt(p.q2_question_filled), str(p.q2_answer), meta)


_PROBLEM = {"pairs": _pair_problem, "q1": _q1_problem, "q2": _q2_problem}
