"""Curation on hand-built records: per-problem caps, dedupe, DPO pairs, STaR hints, mixing policies."""

from __future__ import annotations

import pytest

from selfimprove.curate import (
    dedupe_rows,
    dpo_pairs,
    hinted_records,
    mix,
    rationale_rows,
    reference_completion,
    seed_rows,
    sft_rows,
    with_hint,
)
from selfimprove.errors import UserError
from selfimprove.strategies import LoopSection, methods_of
from selfimprove.types import Completion, Problem, Record


def s(text: str, ok: bool) -> Completion:
    return Completion(text=text, correct=ok, correct_flexible=ok)


def rec(pid: str, samples: list[Completion], prompt: str | list = "Q: x?\nA:", gold: str = "7") -> Record:
    return Record(pid, 1, "improve", prompt, gold, {"difficulty": 1}, None, samples)


def test_sft_rows_keep_correct_only_dedupe_then_cap() -> None:
    r = rec("p", [s(" a", True), s(" b", False), s(" a", True), s(" c", True), s(" d", True)])
    rows = sft_rows([r], max_per_problem=2, dedupe=True)
    assert [row["completion"] for row in rows] == [" a", " c"]  # the duplicate " a" does not use a slot
    assert all(row["prompt"] == "Q: x?\nA:" and row["problem_id"] == "p" for row in rows)
    assert [row["completion"] for row in sft_rows([r], None, dedupe=False)] == [" a", " a", " c", " d"]
    assert sft_rows([rec("q", [s(" z", False)])], None, True) == []


def test_sft_rows_chat_prompt_gets_assistant_message() -> None:
    chat = [{"role": "user", "content": "2+5?"}]
    rows = sft_rows([rec("p", [s("7", True)], prompt=chat)], None, True)
    assert rows[0]["completion"] == [{"role": "assistant", "content": "7"}]


def test_dpo_pairs_distinct_within_cap_and_need_both_kinds() -> None:
    r = rec("p", [s("c1", True), s("c2", True), s("w1", False), s("w1", False), s("w2", False)])
    pairs = dpo_pairs([r], pairs_per_problem=3, dedupe=True, seed=0)
    assert len(pairs) == 3
    combos = {(p["chosen"], p["rejected"]) for p in pairs}
    assert len(combos) == 3 and combos <= {("c1", "w1"), ("c1", "w2"), ("c2", "w1"), ("c2", "w2")}
    # only 2 x 2 distinct combinations exist once duplicates are removed
    assert len(dpo_pairs([r], pairs_per_problem=10, dedupe=True, seed=0)) == 4
    assert len(dpo_pairs([r], pairs_per_problem=10, dedupe=False, seed=0)) == 6
    assert dpo_pairs([rec("all-right", [s("c", True)]), rec("all-wrong", [s("w", False)])], 4, True, 0) == []
    assert dpo_pairs([r], 2, True, seed=5) == dpo_pairs([r], 2, True, seed=5)  # deterministic given the seed


def test_with_hint_goes_before_the_answer_cue() -> None:
    assert with_hint("Q: Ann has 2.\nA:", " (Hint: 7.)") == "Q: Ann has 2. (Hint: 7.)\nA:"
    assert with_hint("no cue", " H") == "no cue H"
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+5?"}]
    assert with_hint(chat, " H")[1]["content"] == "2+5? H" and chat[1]["content"] == "2+5?"
    with pytest.raises(UserError, match="no user message"):
        with_hint([{"role": "system", "content": "x"}], " H")


def test_star_rationalization_hints_only_unsolved_and_trains_without_hint() -> None:
    solved = rec("solved", [s(" 7", True)])
    unsolved = rec("unsolved", [s(" 3", False), s(" 4", False)], gold="12")
    hinted = hinted_records([solved, unsolved], " (Hint: the answer is {gold}.)")
    assert [h.problem_id for h in hinted] == ["unsolved"]
    assert hinted[0].prompt == "Q: x? (Hint: the answer is 12.)\nA:"
    hinted[0].samples = [s(" 5+7=12. The answer is 12.", True), s(" no", False)]
    rows = rationale_rows(hinted, max_per_problem=None, dedupe=True)
    assert rows == [{"prompt": "Q: x?\nA:", "completion": " 5+7=12. The answer is 12.",
                     "problem_id": "unsolved", "source": "rationale"}]
    assert "Hint" not in rows[0]["prompt"]


def test_mix_replace_accumulate_and_dedupe() -> None:
    it1 = [{"prompt": "a", "completion": "1"}, {"prompt": "b", "completion": "2"}]
    it2 = [{"prompt": "a", "completion": "1"}, {"prompt": "c", "completion": "3"}]
    extra = [{"prompt": "s", "completion": "9"}]
    assert mix([it1, it2], "replace") == it2
    assert mix([it1, it2], "accumulate") == [it1[0], it1[1], it2[1]]  # the repeated row appears once
    assert len(mix([it1, it2], "accumulate", dedupe=False)) == 4
    assert mix([it1, it2], "replace", extra) == it2 + extra
    assert mix([], "replace") == []
    with pytest.raises(UserError, match="mixing"):
        mix([it1], "blend")
    pairs = [{"prompt": "a", "chosen": "x", "rejected": "y"}] * 2 + [{"prompt": "a", "chosen": "x", "rejected": "z"}]
    assert len(dedupe_rows(pairs)) == 2


def test_keep_original_draws_a_fresh_fraction_with_reference_solutions() -> None:
    problems = [Problem(f"s{i}", f"Q: {i}?\nA:", str(i), {"solution": f"The answer is {i}."}) for i in range(20)]
    prompts = [p.prompt for p in problems]
    a = seed_rows(problems, prompts, 0.25, seed=1)
    assert len(a) == 5 and all(r["source"] == "seed" for r in a)
    assert all(r["completion"] == f" The answer is {r['problem_id'][1:]}." for r in a)
    assert seed_rows(problems, prompts, 0.25, seed=1) == a
    assert {r["problem_id"] for r in seed_rows(problems, prompts, 0.25, seed=2)} != {r["problem_id"] for r in a}
    assert seed_rows(problems, prompts, 0.0, seed=1) == []
    with pytest.raises(UserError, match="reference solutions"):
        seed_rows([Problem("x", "Q", "1")], ["Q"], 1.0, seed=0)
    assert reference_completion("Q:\n", "42") == "42" and reference_completion("A:", " 42") == " 42"


def test_strategy_schedules_and_invalid_combinations() -> None:
    assert methods_of(LoopSection(strategy="sft-dpo", iterations=3)) == ["sft", "dpo", "dpo"]
    assert methods_of(LoopSection(strategy="sft-dpo", iterations=2, schedule=["dpo", "sft"])) == ["dpo", "sft"]
    assert methods_of(LoopSection(strategy="star", iterations=2)) == ["sft", "sft"]
    assert methods_of(LoopSection(strategy="dpo", iterations=2)) == ["dpo", "dpo"]
    for bad in (
        {"strategy": "sft", "schedule": ["sft", "sft", "sft"]},
        {"strategy": "sft-dpo", "iterations": 2, "schedule": ["sft"]},
        {"strategy": "dpo", "restart_from_base": True},
        {"strategy": "dpo", "keep_original": 0.1},
        {"strategy": "star", "hint": "no placeholder"},
    ):
        with pytest.raises(ValueError):
            LoopSection(**bad)
