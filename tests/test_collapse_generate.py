"""Beam-search corpus generation with a real micro Llama (trained in the test) through model.generate."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import PreTrainedTokenizerFast

from selfimprove.collapse.generate import CollapseGenConfig, generate_corpus
from selfimprove.config import load_config
from selfimprove.errors import UserError
from conftest import MEMORIZED_VOCAB as VOCAB


def test_beam_search_gives_one_continuation_of_exact_length_per_block(memorized) -> None:  # noqa: ANN001
    model, data = memorized
    blocks = [data[0, :12].tolist(), data[1, :5].tolist(), [7, 8, 9], data[2, :12].tolist(), data[3, :9].tolist()]
    cfg = CollapseGenConfig(new_tokens=12, num_beams=5, repetition_penalty=3.0, batch_size=2, show_progress=True)
    out = generate_corpus(model, blocks, cfg)
    assert len(out) == len(blocks)
    assert all(len(c) == 12 and all(isinstance(t, int) and 0 <= t < VOCAB for t in c) for c in out)
    eos = model.generation_config.eos_token_id
    assert all(eos not in c for c in out)  # min_new_tokens == max_new_tokens: EOS cannot cut a block short


def test_beam_search_reproduces_memorized_continuations(memorized) -> None:  # noqa: ANN001
    """The continuation (not context + continuation) is returned, in block order; left padding of a
    shorter context in the same batch does not change it."""
    model, data = memorized
    cfg = CollapseGenConfig(new_tokens=16, repetition_penalty=1.0, batch_size=4, show_progress=False)
    blocks = [data[i, :16].tolist() for i in range(4)]
    assert generate_corpus(model, blocks, cfg) == [data[i, 16:].tolist() for i in range(4)]
    mixed = [data[0, 4:16].tolist(), data[1, :16].tolist()]
    assert generate_corpus(model, mixed, cfg) == [data[0, 16:].tolist(), data[1, 16:].tolist()]


def test_sampling_is_seeded(memorized) -> None:  # noqa: ANN001
    model, data = memorized
    blocks = [[5, 6, 7, 8]] * 3 + [data[0, :4].tolist()]
    cfg = CollapseGenConfig(new_tokens=10, decoding="sample", temperature=5.0, seed=1, show_progress=False)
    state = torch.get_rng_state()
    first = generate_corpus(model, blocks, cfg)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG stream is left alone
    assert first == generate_corpus(model, blocks, cfg)
    assert first != generate_corpus(model, blocks, cfg.model_copy(update={"seed": 2}))
    assert all(len(c) == 10 for c in first)
    assert len({tuple(c) for c in first[:3]}) > 1  # identical contexts, different samples


def test_works_with_a_tokenizer_that_defines_padding(memorized) -> None:  # noqa: ANN001
    model, data = memorized
    vocab = {"[PAD]": 0, "[BOS]": 1, "[EOS]": 2, **{f"w{i}": i for i in range(3, VOCAB)}}
    backend = Tokenizer(WordLevel(vocab, unk_token="[PAD]"))
    backend.pre_tokenizer = WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", eos_token="[EOS]", bos_token="[BOS]")
    blocks = [tok(" ".join(f"w{t}" for t in data[0, :10].tolist()))["input_ids"], tok("w5 w6")["input_ids"]]
    assert blocks[0] == data[0, :10].tolist() and tok.pad_token_id == 0
    cfg = CollapseGenConfig(new_tokens=8, repetition_penalty=1.0, show_progress=False)
    out = generate_corpus(model, blocks, cfg, tokenizer=tok)
    assert [len(c) for c in out] == [8, 8]
    assert out[0] == data[0, 10:18].tolist()  # the short block's left padding is masked out


def test_bad_inputs_are_user_errors(memorized) -> None:  # noqa: ANN001
    model, _ = memorized
    with pytest.raises(UserError, match="max_position_embeddings"):
        generate_corpus(model, [[5] * 100], CollapseGenConfig(new_tokens=30, show_progress=False))  # 130 > 128
    with pytest.raises(UserError, match="no empty block"):
        generate_corpus(model, [[5, 6], []], CollapseGenConfig(new_tokens=4, show_progress=False))
    with pytest.raises(UserError, match="beams"):
        load_config(CollapseGenConfig, overrides=["beams=5"])
    with pytest.raises(UserError, match="top_p"):
        load_config(CollapseGenConfig, overrides=["top_p=1.5"])
