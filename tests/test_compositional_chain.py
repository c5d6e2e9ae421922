"""GSM8K calculator chains: parsing, exact re-evaluation, number origins and substitution of X."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from selfimprove.compositional.chain import ChainError, parse_chain
from selfimprove.compositional.numbers import find_numbers, stated_constants
from selfimprove.compositional.trace import substitute, trace

JANET_Q = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
    "egg. How much in dollars does she make every day at the farmers' market?"
)
JANET_A = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18"
)


def _index(traced, text: str) -> int:
    return next(i for i, n in enumerate(traced.numbers) if n.text == text)


def test_parse_chain_reads_steps_and_answer() -> None:
    chain = parse_chain(JANET_A)
    assert [s.expr for s in chain.steps] == ["16-3-4", "9*2"]
    assert chain.steps[0].literals == (16, 3, 4)
    assert chain.steps[0].template == "v0-v1-v2"
    assert [s.stated for s in chain.steps] == [9, 18]
    assert chain.answer == 18


def test_parse_chain_handles_separators_and_decimals() -> None:
    chain = parse_chain(
        "It costs 80,000*1.5=$<<80,000*1.5=120000>>120,000 and .5*4=<<.5*4=2>>2 more\n"
        "so 120000+2=<<120000+2=120002>>120002\n#### 120,002"
    )
    assert chain.steps[0].literals == (80000, Fraction(3, 2))
    assert chain.steps[1].literals == (Fraction(1, 2), 4)
    assert chain.answer == 120002


@pytest.mark.parametrize(
    ("solution", "reason"),
    [
        ("She has 10/3=<<10/3=3.33>>3.33 each, 3.33*3=<<3.33*3=9.99>>9.99\n#### 10", "inconsistent_step"),
        ("He has 2+3=<<2+3=5>>5 and then 5 more, so 10.\n#### 10", "final_not_traced"),
        ("No calculator here, 10.\n#### 10", "no_annotations"),
        ("60 - 30 = <<30=30>>30 left, 30+2=<<30+2=32>>32\n#### 32", "trivial_step"),
        ("2^3=<<2^3=8>>8\n#### 8", "unparseable"),
        ("2+3=<<2+3=5>>5", "no_final_answer"),
        ("12 - 5 = 7 are left, so 7*3=<<7*3=21>>21\n#### 21", "prose_arithmetic"),
    ],
)
def test_parse_chain_rejects_with_reason(solution: str, reason: str) -> None:
    with pytest.raises(ChainError) as info:
        parse_chain(solution)
    assert info.value.reason == reason


def test_question_numbers_and_constants() -> None:
    numbers = find_numbers("He pays $1,200 for 1/4 of the 3rd lot and 25% more at 3:30 for 2.5 acres.")
    assert [(n.text, n.glued, n.percent) for n in numbers] == [
        ("1,200", False, False),
        ("1", True, False),
        ("4", True, False),
        ("3", True, False),
        ("25", False, True),
        ("3", True, False),
        ("30", True, False),
        ("2.5", False, False),
    ]
    assert numbers[0].value == 1200
    assert {2, Fraction(1, 2), 3} <= stated_constants("He buys three apples and half as many pears.")


def test_substitute_propagates_to_later_steps() -> None:
    traced = trace(JANET_Q, JANET_A)
    eggs, price = _index(traced, "16"), _index(traced, "2")
    assert set(traced.candidates) == {eggs, price}
    sub = substitute(traced, eggs, Fraction(20))
    assert sub.values == (13, 26)  # (20 - 3 - 4) * 2: the 9 of step 2 is step 1's result, recomputed
    assert substitute(traced, price, Fraction(5)).answer == 45


def test_substitute_percent_forms() -> None:
    question = "A shirt costs $80. It is sold at 25% off. A hat costs 30% more than the shirt's old price. Total?"
    solution = (
        "The shirt now costs 80*.75=<<80*.75=60>>60.\nThe hat costs 80*1.3=<<80*1.3=104>>104.\n"
        "Together 60+104=<<60+104=164>>164\n#### 164"
    )
    traced = trace(question, solution)
    off, more = _index(traced, "25"), _index(traced, "30")
    assert substitute(traced, off, Fraction(10)).answer == 80 * Fraction(9, 10) + 104
    assert substitute(traced, more, Fraction(50)).answer == 60 + 120


def test_ambiguous_origin_is_not_a_candidate() -> None:
    # The 40 of the last step is step 2's result and also the question's 40%: replacing 200 changes the
    # first but not the second, so the builder must not guess.
    question = "A file is 200 GB. She downloads 2 GB/minute; 40% of the way in, an update takes 20 minutes. Time?"
    solution = (
        "40% of the file is 200*40*.01=<<200*40*.01=80>>80 GB\nThat takes 80/2=<<80/2=40>>40 minutes\n"
        "The whole file takes 200/2=<<200/2=100>>100 minutes\nIn all 40+100+20=<<40+100+20=160>>160\n#### 160"
    )
    traced = trace(question, solution)
    assert _index(traced, "200") in traced.ambiguous
    assert _index(traced, "200") not in traced.candidates
    with pytest.raises(ChainError) as info:
        substitute(traced, _index(traced, "200"), Fraction(300))
    assert info.value.reason == "untraced"


def test_number_implied_by_words_is_not_replaceable() -> None:
    # "half" brings a 2 of its own into the solution: a 2 in the chain could be either.
    traced = trace(
        "Tom has 2 dogs and half as many cats as 10 birds. How many pets?",
        "Cats: 10/2=<<10/2=5>>5\nPets: 2+5+10=<<2+5+10=17>>17\n#### 17",
    )
    assert _index(traced, "2") not in traced.candidates
    assert _index(traced, "10") in traced.candidates


def test_unexplained_number_rejects_the_chain() -> None:
    # 40 was worked out in the head (110 less 30, halved), so re-running the chain could not update it.
    with pytest.raises(ChainError) as info:
        trace(
            "Gretchen has 110 coins, 30 more gold than silver. How many gold coins?",
            "She has 40 silver coins.\nGold: 40+30=<<40+30=70>>70\n#### 70",
        )
    assert info.value.reason == "unexplained_literal"


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("split", ["test", pytest.param("train", marks=pytest.mark.slow)])
def test_identity_substitution_reproduces_every_traceable_answer(shared_data: Path, split: str) -> None:
    """X equal to the original number must give back the original answer, for every number of every
    problem that traces, and most problems must trace (else this test would prove little)."""
    rows = _rows(shared_data / "gsm8k" / f"{split}.jsonl")
    traced_count = checked = 0
    for row in rows:
        try:
            traced = trace(row["question"], row["answer"])
        except ChainError:
            continue
        traced_count += 1
        for index in traced.candidates:
            sub = substitute(traced, index, traced.numbers[index].value)
            assert sub.answer == traced.chain.answer, row["question"]
            assert sub.values == tuple(s.stated for s in traced.chain.steps)
            checked += 1
    assert traced_count / len(rows) > 0.65
    assert checked > len(rows)
