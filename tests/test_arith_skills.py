"""The arith world's skills: ground truth of the judge rubric, the pose parser, the revise mix, compose rows,
the tokenizer's coverage, and the two-attempt metrics."""

import pytest

from selfimprove import correction
from selfimprove.metrics.correction import correction_metrics
from selfimprove.tasks import arith_skills as skills
from selfimprove.tasks import arith_world as world
from selfimprove.tasks.arith import ArithTask, prompt_of


@pytest.fixture(scope="module")
def seed_problems() -> list[world.WordProblem]:
    return world.split_problems("seed", 200)


def _problem(text: str) -> world.WordProblem:
    problem = skills.parse_problem(text)
    assert problem is not None
    return problem


def test_rubric_scores_each_point() -> None:
    p = _problem("Ann has 5 apples. She gets 3 more. She then has 2 times as many. How many apples does Ann have now?")
    assert p.answer == 16
    assert skills.rubric_score(p, " 5+3=8. 8*2=16. The answer is 16.") == 5
    assert skills.rubric_score(p, " 5 + 3 = 8. 8 * 2 = 16. The answer is 16.") == 4  # format
    assert skills.rubric_score(p, " 5+3=8. 8*2=16.") == 3  # no answer sentence: answer and format
    assert skills.rubric_score(p, " 5+3=9. 9*2=18. The answer is 18.") == 2  # a slip: relevant, format
    assert skills.rubric_score(p, " 5+3=8. 8*2=17. The answer is 17.") == 3  # first step right
    assert skills.rubric_score(p, " 4+3=7. The answer is 7.") == 1  # only the format
    assert skills.rubric_score(p, " 4+3=7.") == 0
    text = skills.judgment_text(p, " 5+3=8. 8*2=17. The answer is 17.")
    assert text == " relevant yes. first step yes. all steps no. answer no. format yes. Score: 3"
    assert skills.parse_score(text) == 3 and skills.parse_score(" relevant yes.") is None


def test_judge_rows_cover_every_score(seed_problems) -> None:
    rows = skills.skill_rows("judge", seed_problems, 400)
    scores = {skills.parse_score(r["completion"]) for r in rows}
    assert scores == {0, 1, 2, 3, 4, 5}
    assert all(r["prompt"].startswith("Rate the answer.\nQ: ") and r["prompt"].endswith("\nRating:") for r in rows)
    assert "{prompt}" in skills.JUDGE_TEMPLATE and "{response}" in skills.JUDGE_TEMPLATE


def test_parse_problem_round_trips_and_refuses(seed_problems) -> None:
    assert all(skills.parse_problem(p.question()) == p for p in seed_problems)
    assert skills.parse_problem("Q: " + seed_problems[0].question()) == seed_problems[0]
    for bad in ("Ann has 5 apples. He gets 3 more. How many apples does Ann have now?",  # pronoun
                "Ann has 5 apples. She loses 7. How many apples does Ann have now?",  # below zero
                "Ann has 5 apples. She splits them into 2 equal groups and keeps one group. How many apples "
                "does Ann have now?",  # inexact division
                "Ann has 5 apples. How many apples does Ann have now?",  # no step
                "Ann has 5 apples. She eats 2. How many apples does Ann have now?",  # unknown sentence
                "Zed has 5 apples. He gets 2 more. How many apples does Zed have now?",  # unknown name
                "Ann has 5 apples. She gets 3 more. How many pens does Ann have now?",  # another object
                "Ann has 5 apples. She gets 3 more."):  # no question
        assert skills.parse_problem(bad) is None, bad
    posed = skills.skill_rows("pose", seed_problems, 20)
    assert all(r["prompt"].endswith("\nQ:") and skills.parse_problem(r["completion"]) for r in posed)


def test_revise_rows_use_the_second_turn_prompt_and_mix(seed_problems) -> None:
    rows = skills.skill_rows("revise", seed_problems, 600)
    by_question = {prompt_of(p.question()): p for p in seed_problems}
    first, second = [], []
    for row in rows:
        question = row["prompt"].split("\nA:")[0] + "\nA:"
        problem = by_question[question]
        attempt = row["prompt"][len(question):].split("\n\n")[0]
        assert row["prompt"] == correction.second_turn_prompt(question, attempt, ArithTask.correction,
                                                              ArithTask.answer_prefix)
        first.append(attempt.strip() == problem.solution())
        second.append(row["completion"].strip() == problem.solution())
    m = correction_metrics(first, second)
    assert 0.4 < m["acc_t1"] < 0.6
    assert 0.02 < m["delta_i2c"] < 0.09 and 0.05 < m["delta_c2i"] < 0.15  # most repeat, some fix, more break
    assert m["delta"] < 0


def test_compose_rows_answer_in_the_paper_format(seed_problems) -> None:
    rows = skills.skill_rows("compose", seed_problems, 30)
    for row in rows:
        assert row["prompt"].startswith("Q: Let X be the answer to the Q1:\nQ1: ")
        assert " The Q1 answer is " in row["completion"] and " The final answer is " in row["completion"]


def test_tokenizer_covers_every_skill(seed_problems) -> None:
    from selfimprove.tiny.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    for skill in ("judge", "pose", "revise", "compose"):
        for row in skills.skill_rows(skill, seed_problems, 20):
            text = row["prompt"] + row["completion"]
            ids = tokenizer(text)["input_ids"]
            assert tokenizer.unk_token_id not in ids and tokenizer.decode(ids) == text


def test_correction_metrics() -> None:
    m = correction_metrics([True, True, False, False], [True, False, True, True])
    assert m == {"n": 4, "acc_t1": 0.5, "acc_t2": 0.75, "delta": 0.25, "delta_i2c": 0.5, "delta_c2i": 0.25}
    with pytest.raises(ValueError):
        correction_metrics([True], [])
    with pytest.raises(ValueError, match="unknown skill"):
        skills.skill_rows("sing", [world.split_problems("seed", 2)[0]] * 2, 1)
