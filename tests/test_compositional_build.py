"""Compositional GSM builder, prompts and task on the real GSM8K files.

Every built pair's new answer is re-derived here by an independent method (a map from old to new values
applied to the calculator annotations, evaluated by Python), not by the builder's chain code."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from selfimprove.compositional.build import build_from_file, build_pairs
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.pairs import GSMItem, Pair, load_gsm8k, load_pairs
from selfimprove.compositional.prompt import pair_exemplars, rewrite_q2_solution
from selfimprove.compositional.task import CompositionalGSMTask
from selfimprove.errors import UserError
from selfimprove.types import Task

_SAFE = re.compile(r"^[\d.+\-*/() ]+$")


def rederive(question: str, solution: str, start: int, end: int, x: int) -> Fraction:
    """Q2's answer with question[start:end] set to x: walk the annotations, rewriting every number whose
    value was changed (the replaced number, its percent forms, a result that changed) to its new value."""
    old = Fraction(question[start:end].replace(",", ""))
    changed = {old: Fraction(x)}
    if re.match(r"\s*(%|percent)", question[end:]):
        p, q = old / 100, Fraction(x, 100)
        changed.update({p: q, 1 + p: 1 + q, 1 - p: 1 - q})
    last = None
    for expr, stated in re.findall(r"<<([^=<>]*)=([^<>]*)>>", solution):
        expr = expr.replace(",", "")
        assert _SAFE.match(expr), expr

        def literal(m: re.Match[str]) -> str:
            v = changed.get(Fraction(m.group()), Fraction(m.group()))
            return f"F({v.numerator},{v.denominator})"

        value = eval(re.sub(r"\d+(?:\.\d+)?|\.\d+", literal, expr), {"__builtins__": {}, "F": Fraction})
        before = Fraction(stated.replace(",", "").replace("$", ""))
        if value != before:
            changed[before] = value
        last = value
    assert last is not None
    return last


@pytest.fixture(scope="module")
def test_items(shared_data: Path) -> list[GSMItem]:
    return load_gsm8k(shared_data / "gsm8k" / "test.jsonl")


@pytest.fixture(scope="module")
def built(test_items: list[GSMItem]) -> tuple[list[Pair], object]:
    return build_pairs(test_items, test_items, BuildConfig(seed=0, num_pairs=None))


def _check_rederived(pairs: list[Pair]) -> None:
    for p in pairs:
        q, solution = p.q2_question_original, p.q2_solution_original
        expected = rederive(q, solution, p.replaced_start, p.replaced_end, p.q1_answer)
        assert expected == p.q2_answer, p.id
        assert p.q2_steps[-1].endswith(f"={p.q2_answer}")


def test_every_pair_rederived_independently(built) -> None:
    pairs, _ = built
    assert len(pairs) > 700
    _check_rederived(pairs)


@pytest.mark.slow
def test_every_train_pair_rederived_independently(shared_data: Path) -> None:
    train = load_gsm8k(shared_data / "gsm8k" / "train.jsonl")
    pairs, _ = build_pairs(train, train, BuildConfig(seed=1, num_pairs=None))
    assert len(pairs) > 4000
    _check_rederived(pairs)


def test_pairs_keep_provenance(built, shared_data: Path) -> None:
    pairs, _ = built
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    for p in pairs:
        q1, q2 = rows[int(p.q1_id.rsplit("-", 1)[1])], rows[int(p.q2_id.rsplit("-", 1)[1])]
        assert p.q1_id != p.q2_id and p.id == f"{p.q1_id}+{p.q2_id}"
        assert q1["question"] == p.q1_question and p.q1_answer == int(q1["answer"].split("####")[1].replace(",", ""))
        assert q2["question"] == p.q2_question_original
        assert p.q2_answer_original == int(q2["answer"].split("####")[1].replace(",", ""))
        q = p.q2_question_original
        assert q[p.replaced_start : p.replaced_end] == p.replaced_text
        assert p.q2_question == q[: p.replaced_start] + "X" + q[p.replaced_end :]
        assert len(re.findall(r"\bX\b", p.q2_question)) == 1 and not re.search(r"\bX\b", p.q1_question)
        assert p.q2_question_filled == q[: p.replaced_start] + str(p.q1_answer) + q[p.replaced_end :]


def test_pairs_pass_the_acceptance_rules(built) -> None:
    pairs, _ = built
    bound = BuildConfig().max_relative_change
    assert len({p.q2_id for p in pairs}) == len(pairs)
    assert len({p.q1_id for p in pairs}) == len(pairs)  # fewer pairs than problems: no Q1 is reused
    for p in pairs:
        assert p.q2_answer > 0 and p.q2_answer != p.q2_answer_original
        assert abs(p.q2_answer - p.q2_answer_original) <= bound * p.q2_answer_original


def test_stats_account_for_every_q2_and_attempt(built, test_items) -> None:
    pairs, stats = built
    assert stats.built == len(pairs)
    assert stats.q2_considered == stats.q2_total == len(test_items)  # num_pairs=None: every Q2 is examined
    assert stats.q2_considered == stats.built + sum(stats.q2_rejected.values()) + stats.q2_exhausted
    assert stats.attempts == stats.built + sum(stats.attempts_rejected.values())
    assert {"final_not_traced", "unexplained_literal", "no_annotations"} <= set(stats.q2_rejected)
    assert {"too_far", "not_positive_integer", "unchanged"} <= set(stats.attempts_rejected)


def test_build_is_deterministic_and_stops_at_num_pairs(test_items) -> None:
    config = BuildConfig(seed=3, num_pairs=40)
    first, stats = build_pairs(test_items, test_items, config)
    again, _ = build_pairs(test_items, test_items, config)
    other, _ = build_pairs(test_items, test_items, BuildConfig(seed=4, num_pairs=40))
    assert len(first) == 40 == stats.built
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert [p.id for p in first] != [p.id for p in other]


def test_tighter_bound_keeps_fewer_pairs(test_items) -> None:
    items = test_items[:400]
    loose, _ = build_pairs(items, items, BuildConfig(num_pairs=None, max_relative_change=2.0))
    tight, _ = build_pairs(items, items, BuildConfig(num_pairs=None, max_relative_change=0.2))
    assert len(tight) < len(loose)
    assert all(abs(p.q2_answer - p.q2_answer_original) <= 0.2 * p.q2_answer_original for p in tight)


def test_build_from_file_roundtrip(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    stats = build_from_file(shared_data / "gsm8k" / "test.jsonl", out, BuildConfig(num_pairs=25))
    pairs = load_pairs(out)
    assert stats.built == len(pairs) == 25
    assert all(p.q1_id.startswith("gsm8k-test-") for p in pairs)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        BuildConfig(num_pair=10)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        BuildConfig(max_relative_change=0)
    with pytest.raises(UserError):
        load_gsm8k(tmp_path / "missing.jsonl")


def test_exemplars_come_from_train_and_are_consistent(shared_data: Path) -> None:
    train = load_gsm8k(shared_data / "gsm8k" / "train.jsonl")
    test_questions = {i.question for i in load_gsm8k(shared_data / "gsm8k" / "test.jsonl")}
    pairs, _ = build_pairs(train, train, BuildConfig(seed=1, num_pairs=60))
    rewritten = [(p, rewrite_q2_solution(p)) for p in pairs]
    assert sum(s is not None for _, s in rewritten) >= 40
    for p, solution in rewritten:
        if solution is not None:
            assert p.q1_question not in test_questions and p.q2_question_original not in test_questions
            numbers = re.findall(r"\d+(?:\.\d+)?", solution.replace(",", ""))
            assert str(p.q2_answer) in numbers  # the rewritten solution reaches the new answer
    exemplars = pair_exemplars(train, 8, seed=0)
    assert len(exemplars) == 8
    form = re.compile(r"The Q1 answer is (\d+)\. Therefore X=\1\. .* The final answer is \d+\.$")
    assert all(form.search(e) for e in exemplars)


@pytest.fixture(scope="module")
def task(shared_data: Path) -> CompositionalGSMTask:
    return CompositionalGSMTask(data_dir=str(shared_data), build={"num_pairs": 30})


def test_task_splits_and_prompts(task: CompositionalGSMTask) -> None:
    assert isinstance(task, Task)
    pairs, q1, q2 = (task.load(s) for s in ("pairs", "q1", "q2"))
    assert len(pairs) == len(q1) == len(q2) == 30
    p, a, b = pairs[0], q1[0], q2[0]
    assert a.id == f"{p.id}/q1" and b.id == f"{p.id}/q2"
    assert p.prompt.startswith("Let X be the answer to the Q1:\nQ1: ")
    assert "\nSolve it and use the value of X to solve Q2. Explain your answer step by step.\nQ2: " in p.prompt
    assert p.gold == b.gold == p.metadata["q2_gold"] and a.gold == p.metadata["q1_gold"]
    assert a.prompt == p.metadata["q1_prompt"] and b.prompt == p.metadata["q2_prompt"]
    assert re.search(r"\bX\b", p.prompt.split("\nQ2: ", 1)[1]) and not re.search(r"\bX\b", b.prompt)
    eight = task.format_prompt(p, shots=8)
    assert eight.count("Let X be the answer to the Q1:") == 9 and eight.endswith(p.prompt + "\nA:")
    assert task.format_prompt(a, shots=3).count("\nA:") == 4
    assert task.format_prompt(p, shots=0) == p.prompt


def test_task_extracts_and_verifies(task: CompositionalGSMTask) -> None:
    text = "Q1 work... The Q1 answer is 1,200. Therefore X=1200. Then 1200 / 4 = 300. The final answer is $300."
    assert task.extract(text) == "300" and task.extract_q1(text) == "1200"
    assert task.extract("so X = 7 and the total is 12 apples", "flexible") == "12"
    assert task.extract("so X = 7 and the total is 12 apples") is None
    assert task.extract_q1("so X = 7 and the total is 12", "flexible") == "7"
    assert task.verify("300.0", "300") and not task.verify("301", "300") and not task.verify(None, "3")
    problem = task.load("pairs")[0]
    right = f"The Q1 answer is {problem.metadata['q1_gold']}. The final answer is {problem.gold}."
    wrong_q1 = f"The Q1 answer is {int(problem.metadata['q1_gold']) + 1}. The final answer is {problem.gold}."
    assert task.verify_pair(problem, right) == (True, True)
    assert task.verify_pair(problem, wrong_q1) == (False, True)


def test_task_from_pairs_file(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    build_from_file(shared_data / "gsm8k" / "test.jsonl", out, BuildConfig(num_pairs=5, seed=9))
    task = CompositionalGSMTask(pairs_path=str(out))
    assert [p.id for p in task.load("pairs", limit=3)] == [p.id for p in load_pairs(out)][:3]
    with pytest.raises(UserError):
        task.format_prompt(task.load("pairs")[0], shots=2)  # exemplars need the train split
    with pytest.raises(UserError):
        CompositionalGSMTask()
    with pytest.raises(UserError):
        CompositionalGSMTask(pairs_path=str(out), build={"bogus": 1})
