"""The tiny tokenizer: exact round trips, no unknown tokens, a standard HF tokenizer on disk."""

from __future__ import annotations

from transformers import AutoTokenizer

from selfimprove.tasks import get_task
from selfimprove.tiny.tokenizer import build_tokenizer


def test_round_trip_and_no_unknowns():
    tok = build_tokenizer()
    task = get_task("arith", sizes={"seed": 200, "improve": 200, "test": 200, "ood": 200, "compositional": 30})
    for split in task.splits:
        for p in task.load(split):
            text = p.prompt + " " + p.metadata.get("solution", "")
            ids = tok(text)["input_ids"]
            assert tok.unk_token_id not in ids, text
            assert tok.decode(ids) == text


def test_digits_are_single_tokens():
    tok = build_tokenizer()
    assert tok.tokenize(" 1203") == [" ", "1", "2", "0", "3"]
    assert tok.tokenize("=12.")[1:3] == tok.tokenize(" 12")[1:3]


def test_saved_tokenizer_loads_with_autotokenizer(tmp_path):
    tok = build_tokenizer()
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Q: Ann has 12 apples.\nA: 12+7=19. The answer is 19."
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.eos_token == "</s>" and again.pad_token == "<pad>" and again.padding_side == "left"


def test_whole_numbers_are_single_tokens_below_the_bound():
    tok = build_tokenizer(whole_numbers=1000)
    assert tok.tokenize(" 999+7=1006.") == [" ", "999", "+", "7", "=", "100", "6", "."]
    assert len(tok) == len(build_tokenizer()) + 1000 - 10  # the ten digits were tokens already
    task = get_task("arith", sizes={"seed": 200, "test": 200, "ood": 200, "compositional": 30})
    for split in ("seed", "test", "ood", "compositional"):
        for p in task.load(split):
            text = p.prompt + " " + p.metadata.get("solution", "")
            ids = tok(text)["input_ids"]
            assert tok.unk_token_id not in ids and tok.decode(ids) == text
