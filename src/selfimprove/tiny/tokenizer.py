"""A small word-level tokenizer for the arithmetic world, built with `tokenizers` and saved as a
standard `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained` loads it like any other.

Words carry their leading space (` apples`); numbers never carry a space (a space before a number is its own
token), so a number has one embedding wherever it appears. By default every digit is a token and numbers are
read digit by digit; with `whole_numbers=N` each integer below N is a single token (longer numbers are cut
into pieces of at most len(str(N - 1)) digits), which turns each equation of the arithmetic world into a fact
the model can memorize rather than a digit algorithm it must discover. Decoding reproduces the text exactly
(the Fuse decoder joins pieces as they are).
"""

from __future__ import annotations

import re

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from selfimprove.tasks import arith_skills as skills
from selfimprove.tasks import arith_world as world

WORD, OTHER = r" ?[A-Za-z]+[0-9]?", r"[^\sA-Za-z0-9]|\n| "


def piece_pattern(whole_numbers: int = 0) -> str:
    """The pre-tokenizer's pieces: words, numbers (a digit each, or up to the digits of whole_numbers - 1)."""
    digits = len(str(whole_numbers - 1)) if whole_numbers > 1 else 1
    return f"{WORD}|[0-9]{{1,{digits}}}|{OTHER}"


PIECE = piece_pattern()
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def _pieces(text: str) -> list[str]:
    return re.findall(PIECE, text)


def corpus_words() -> set[str]:
    """Every piece the arithmetic world can produce: all templates, names, objects, digits, punctuation, and the
    texts of its skills (judge, pose, revise, compose: selfimprove.tasks.arith_skills)."""
    texts = [
        *world.NAMES, *world.OBJECTS, *world.PRONOUN.values(),
        *(t for group in world.TEMPLATES.values() for t in group),
        "Q: has . How many does have now?\nA: The answer is +-*/= X Q1 Q2",
        "Let X be the answer to the Q1:\nQ1: Solve it and use the value of X to solve Q2. "
        "Explain your answer step by step.\nQ2: The Q1 answer is 1. Therefore X=1. The final answer is 2.",
        *skills.TEXTS,
    ]
    pieces = {p for text in texts for word in text.replace("{p}", " ").replace("{n}", " ").split(" ")
              for p in _pieces(" " + word) + _pieces(word)}
    pieces |= {str(i) for i in range(10)}
    return {p for p in pieces if p.strip() or p in (" ", "\n")}


def build_tokenizer(whole_numbers: int = 0) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over the arithmetic world's vocabulary (about 150 tokens, plus one per integer
    below `whole_numbers` when it is set)."""
    numbers = {str(i) for i in range(whole_numbers)}
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(corpus_words() | numbers))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(piece_pattern(whole_numbers)), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        padding_side="left", clean_up_tokenization_spaces=False,
    )
