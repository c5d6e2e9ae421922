"""The judge: score parsing on real and malformed judge outputs, templates, repeats, and best-vs-worst pairs."""

from __future__ import annotations

import pytest

from selfimprove.errors import UserError
from selfimprove.judges import Judge, Judgment, check_template, mean_score, render
from selfimprove.judges.additive import TEMPLATE, parse_score
from selfimprove.judges.pairs import judged_pairs, pick_pair
from selfimprove.types import Completion, Record, SamplingParams

# Judge outputs in the shapes instruct models write them (the paper's format, markdown, restated format).
REAL = [
    ("The response is relevant (+1) and answers the question (+1, +1). Score: 3", 3.0),
    ("The answer is correct and well organized.\n\n**Score:** 4", 4.0),
    ('Conclude with "Score: <total points>".\nJustification: correct.\nScore: 5', 5.0),
    ("score: 2.5", 2.5),
    ("Score = 1 because it is barely relevant", 1.0),
    ("Total: Score: 4/5", 4.0),
    ("Score: 0", 0.0),
]
MALFORMED = [
    "",  # nothing at all
    "The response deserves full marks.",  # no score
    "Score: <total points>",  # only echoes the format
    "Score: 7",  # out of range: not clamped to 5
    "Score: -1",  # negative: not a score
    "I would give it four points.",  # a number in words
]


@pytest.mark.parametrize(("text", "score"), REAL)
def test_parse_score_reads_real_outputs(text: str, score: float) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize("text", MALFORMED)
def test_parse_score_none_when_no_usable_score(text: str) -> None:
    assert parse_score(text) is None


class Echo:
    """A sampler that answers every prompt with fixed texts in turn (stands in for a model only in this
    unit test of rendering and parsing; the recipe's tests use real models)."""

    def __init__(self, outputs: list[str]) -> None:
        self.outputs, self.prompts, self.params = outputs, [], None

    def sample(self, prompts, params):  # noqa: ANN001, ANN201
        self.prompts, self.params = prompts, params
        it = iter(self.outputs)
        return [[Completion(next(it)) for _ in range(params.n)] for _ in prompts]


def test_judge_renders_and_parses_each_repeat() -> None:
    sampler = Echo(["Score: 4", "no idea", "Score: 2", "Score: 5", "Score: 5", "Score: 3"])
    judge = Judge(sampler, TEMPLATE, parse_score, SamplingParams(temperature=0.7))
    out = judge.score([("What is {x}?", "It is 3."), ([{"role": "user", "content": "Q2"}], "A2")], repeats=3)
    assert [[j.score for j in js] for js in out] == [[4.0, None, 2.0], [5.0, 5.0, 3.0]]
    assert out[0][1] == Judgment(None, "no idea", False)
    assert mean_score(out[0]) == 3.0 and mean_score(out[1]) == pytest.approx(13 / 3)
    assert sampler.params.n == 3
    assert "User: What is {x}?\n<response>It is 3.</response>" in sampler.prompts[0]  # braces left alone
    assert "User: Q2\n" in sampler.prompts[1]  # a chat prompt's user message
    assert mean_score([Judgment(None, "", False)]) is None


def test_template_without_placeholder_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"no \{response\} placeholder"):
        check_template("Rate this: {prompt}")
    with pytest.raises(UserError, match=r"\{prompt\} or \{response\}"):
        Judge(Echo([]), "Rate it.", parse_score, SamplingParams())
    assert render("Q={prompt}{response}", "Q: q\nA:", " r") == "Q=Q: q\nA: r"


def test_repeats_need_sampling() -> None:
    judge = Judge(Echo([]), TEMPLATE, parse_score, SamplingParams(temperature=0.0))
    with pytest.raises(UserError, match="temperature above 0"):
        judge.score([("q", "r")], repeats=3)


def judged(text: str, scores: list[float | None], correct: bool | None = None) -> Completion:
    return Completion(text, correct=correct, judgments=[Judgment(s, f"Score: {s}", s is not None).to_dict()
                                                        for s in scores])


def test_pairs_best_vs_worst_with_ties_dropped() -> None:
    records = [
        Record("a", 1, "x", "Q: a\nA:", "1", samples=[judged("mid", [3, 4]), judged("top", [5, 5], False),
                                                      judged("low", [1, None], True), judged("junk", [None])]),
        Record("b", 1, "x", "Q: b\nA:", "1", samples=[judged("s", [4]), judged("t", [4.0])]),  # a tie
        Record("c", 1, "x", "Q: c\nA:", "1", samples=[judged("u", [None]), judged("v", [3])]),  # one scored
    ]
    rows, counts = judged_pairs(records)
    assert counts == {"paired": 1, "tied": 1, "unscored": 1}
    (row,) = rows
    assert (row["chosen"], row["rejected"]) == ("top", "low")
    assert (row["chosen_score"], row["rejected_score"]) == (5.0, 1.0)
    assert (row["chosen_correct"], row["rejected_correct"]) == (False, True)


def test_length_control_prefers_the_shorter_within_epsilon() -> None:
    samples = [judged("a long answer", [5]), judged("short", [4.5]), judged("x", [1]), judged("longer bad", [1.5])]
    chosen, rejected = pick_pair(samples, epsilon=0.5)
    assert (chosen.text, rejected.text) == ("short", "longer bad")
    chosen, rejected = pick_pair(samples, epsilon=0.0)
    assert (chosen.text, rejected.text) == ("a long answer", "x")
    # both within epsilon of each end: the shorter is the worse one, so length control leaves no pair
    assert pick_pair([judged("aa", [4]), judged("b", [3])], epsilon=1.0) is None


def test_pairwise_judge_reads_both_orders() -> None:
    from selfimprove.judges.pairwise import PairwiseJudge, parse_choice

    assert [parse_choice(t) for t in ("[[A]]", "so [[B]]", "[[A]] then [[C]]", "A is better", "[[D]]")] == \
        [1.0, 0.0, 0.5, None, None]
    # pair 1: A then B (the first response wins both orders); pair 2: A, A (position bias); pair 3: unparsed
    sampler = Echo(["[[A]]", "[[B]]", "[[A]]", "[[A]]", "[[B]]", "no decision"])
    out = PairwiseJudge(sampler, SamplingParams()).prefer([("q", "x", "y"), ("q", "x", "y"), ("q", "x", "y")])
    assert [p for p, _ in out] == [1.0, 0.5, None]
    assert "[The Start of Assistant A's Answer]\nx" in sampler.prompts[0]
    assert "[The Start of Assistant A's Answer]\ny" in sampler.prompts[1]
    assert out[2][1][1].parsed is False
    with pytest.raises(UserError, match="response_b"):
        PairwiseJudge(sampler, SamplingParams(), template="{prompt} {response_a}")
