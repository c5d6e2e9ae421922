"""Distinct-n, equation sets, semantic diversity and the embedding cache on hand-worked examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfimprove.errors import UserError
from selfimprove.metrics.diversity import diversity
from selfimprove.metrics.lexical import distinct_n, tokenize
from selfimprove.metrics.logical import equation_set, extract_equations, logical_diversity, normalize_equation
from selfimprove.metrics.semantic import EmbeddingCache, semantic_diversity
from selfimprove.types import Completion, Record


def test_tokenize_splits_words_numbers_and_punctuation() -> None:
    assert tokenize("12+7=19. The answer is 14.") == ["12", "+", "7", "=", "19", ".", "the", "answer", "is", "14", "."]
    assert tokenize("Natalia's  clips") == ["natalia", "'", "s", "clips"]


def test_distinct_n_hand_worked() -> None:
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    same = ["the cat sat", "the cat sat"]
    assert distinct_n(same, 1) == pytest.approx(3 / 6)
    assert distinct_n(same, 2) == pytest.approx(2 / 4)
    assert distinct_n(same, 3) == pytest.approx(1 / 2)
    assert distinct_n(same, 4) is None  # no 4-gram at all
    assert distinct_n(["the cat sat", "a dog ran"], 2) == 1.0
    # n-grams do not cross text boundaries: "sat the" is not a bigram here
    assert distinct_n(["the cat", "cat the"], 2) == 1.0


def test_commutative_equations_count_once() -> None:
    assert normalize_equation("3+4=7") == normalize_equation("4+3=7") == normalize_equation("7 = 4 + 3") == "3+4=7"
    assert normalize_equation("2*3*4=24") == normalize_equation("4 * (3*2) = 24")
    assert normalize_equation("4 x 3 x 2 = 24") == "2*3*4=24"
    assert normalize_equation("12-5=7") != normalize_equation("5-12=7")  # subtraction keeps its order
    assert normalize_equation("1,200 * 2 = 2,400") == "1200*2=2400"
    assert normalize_equation("24.0/2 = 12.00") == "24/2=12"


def test_equations_from_arith_solutions() -> None:
    text = "12+7=19. 19-5=14. The answer is 14."
    assert extract_equations(text) == ["12+7=19", "19-5=14"]
    assert equation_set(text) == frozenset({"12+7=19", "19-5=14"})
    assert equation_set("12*2=24. 24/3=8. The answer is 8.") == frozenset({"12*2=24", "24/3=8"})
    assert equation_set("The answer is 14.") == frozenset()


def test_equations_from_gsm8k_annotations_and_plain_text() -> None:
    annotated = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert equation_set(annotated) == frozenset({"48/2=24", "24+48=72"})
    plain = "She sold 48 / 2 = 24 clips in May, so 24 + 48 = 72 in all."
    assert equation_set(plain) == equation_set(annotated)
    assert equation_set("It costs $1,200 * 2 = $2,400.") == frozenset({"1200*2=2400"})
    assert extract_equations("In 2019 she was 14 = 14 years") == []  # no operator: not a calculation
    assert equation_set("so <<14=14>>14 and <<2*7=14>>14") == frozenset({"2*7=14"})
    with_units = "Toulouse has 2 * 80 sheep = 160 sheep. Together 20 sheep + 160 sheep + 80 sheep = 260 sheep"
    assert equation_set(with_units) == frozenset({"2*80=160", "160+20+80=260"})
    assert equation_set("She earns $20/hour * 35 hours/week = $700/week") == frozenset({"20*35=700"})
    assert equation_set("200 GB * 40% = 80 GB") == frozenset({"(40/100)*200=80"})  # operands of * sorted as strings


def test_logical_diversity_counts_distinct_equation_sets() -> None:
    solutions = [
        "12+7=19. 19-5=14. The answer is 14.",
        "7+12=19. 19-5=14. The answer is 14.",  # same equations, + reordered
        "First 19-5=14, since 12+7=19. The answer is 14.",  # same set, other order and words
        "12-5=7. 7+7=14. The answer is 14.",  # another route
        "The answer is 14.",  # no equations: one more (empty) set
    ]
    assert logical_diversity(solutions) == 3
    assert logical_diversity(solutions[:3]) == 1


def _done(text: str, ok: bool) -> Completion:
    return Completion(text=text, answer="1" if ok else "0", correct=ok, answer_flexible="1", correct_flexible=ok)


def test_diversity_groups_correct_and_incorrect_apart() -> None:
    record = Record(
        "p1", 1, "test", "Q", "1",
        samples=[
            _done("1+2=3. The answer is 3.", True),
            _done("2+1=3. The answer is 3.", True),
            _done("3-1=2. The answer is 2.", False),
            _done("a lone wrong guess", False),
        ],
    )
    lone = Record("p2", 1, "test", "Q", "1", samples=[_done("1+1=2", True), _done("x", False)])
    out = diversity([record, lone])
    assert out["correct"]["n_problems"] == 1  # p2 has one text per group: not counted
    assert out["correct"]["logical"] == 1.0  # 1+2=3 and 2+1=3 are one equation set
    assert out["incorrect"]["logical"] == 2.0
    # each correct text is 11 tokens ("1 + 2 = 3 . the answer is 3 ."), 22 pooled; the distinct ones are
    # 1 + 2 = 3 . the answer is -> 9 (the second text only reorders 1 and 2)
    assert out["correct"]["distinct-1"] == pytest.approx(9 / 22)
    assert out["correct"]["semantic"] is None  # no embedding cache given
    with pytest.raises(UserError):
        diversity([record], min_group=1)


def test_ungraded_samples_are_refused() -> None:
    record = Record("p1", 1, "test", "Q", "1", samples=[Completion(text="1+1=2"), Completion(text="2")])
    with pytest.raises(UserError, match="has no strict grade"):
        diversity([record])


def test_semantic_diversity_needs_two_rows() -> None:
    assert semantic_diversity(np.ones((1, 4))) is None
    assert semantic_diversity(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def minilm_cache(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingCache:
    """The real packaged MiniLM, loaded once for this module (a few seconds)."""
    cache = EmbeddingCache(tmp_path_factory.mktemp("emb"))
    cache.encoder()
    return cache


def test_identical_texts_have_zero_semantic_diversity(minilm_cache: EmbeddingCache) -> None:
    text = "12+7=19. 19-5=14. The answer is 14."
    rows = minilm_cache.embed([text] * 4)
    assert rows.shape == (4, 384)
    assert semantic_diversity(rows) == pytest.approx(0.0, abs=1e-5)


def test_unrelated_texts_are_clearly_more_diverse(minilm_cache: EmbeddingCache) -> None:
    near = minilm_cache.embed(["12+7=19. 19-5=14. The answer is 14.", "7+12=19. 19-5=14. The answer is 14."])
    far = minilm_cache.embed([
        "12+7=19. 19-5=14. The answer is 14.",
        "The cat slept on the warm windowsill all afternoon.",
        "Parliament passed the budget after a long night of debate.",
    ])
    assert semantic_diversity(far) > 0.5
    assert semantic_diversity(far) > semantic_diversity(near) + 0.3


class _NoEncoding:
    """An encoder that must never be used: proves a warm cache needs no model."""

    def encode(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the cache should not have encoded anything")


def test_cache_embeds_each_text_once_and_persists(minilm_cache: EmbeddingCache, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, encoder=minilm_cache.encoder())
    texts = ["one apple", "two pears", "one apple"]
    first = cache.embed(texts)
    assert (cache.misses, cache.hits, len(cache)) == (2, 0, 2)
    np.testing.assert_array_equal(first[0], first[2])
    again = cache.embed(["two pears"])
    assert (cache.misses, cache.hits) == (2, 1)
    reopened = EmbeddingCache(tmp_path, encoder=_NoEncoding())
    assert len(reopened) == 2
    np.testing.assert_allclose(reopened.embed(["two pears", "one apple"]), np.stack([again[0], first[0]]))
    with pytest.raises(UserError, match="another model"):
        EmbeddingCache(tmp_path, model_id="some/other-model")


def test_diversity_with_embeddings(minilm_cache: EmbeddingCache) -> None:
    same = [_done("5+5=10. The answer is 10.", True) for _ in range(3)]
    record = Record("p", 1, "test", "Q", "10", samples=same)
    out = diversity([record], minilm_cache)
    assert out["correct"]["semantic"] == pytest.approx(0.0, abs=1e-5)
    # "5 + 5 = 10 . the answer is 10 ." is 11 tokens, 8 distinct; three copies pool 33 tokens
    assert out["correct"]["distinct-1"] == pytest.approx(8 / 33)
    assert out["incorrect"]["n_problems"] == 0 and out["incorrect"]["semantic"] is None
