"""Both engines of the local sampler on every architecture family the fast one claims (hf.FAST_MODEL_TYPES),
each a tiny randomly initialised model built here: greedy output of the fast loop equals `model.generate`'s,
and every sampled row's logprob, from either engine, equals the model's log-likelihood of the row from one
plain forward pass. Architectures outside the list sample with `model.generate`, saying so."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from selfimprove.sampling.decode import decode_batch
from selfimprove.sampling.generate import generate_batch
from selfimprove.sampling.hf import FAST_MODEL_TYPES, HFSampler
from selfimprove.tasks import get_task
from selfimprove.tiny.tokenizer import build_tokenizer
from selfimprove.types import SamplingParams

from test_sampler import full_forward_logprob

PROMPTS = [str(p.prompt) for p in get_task("arith", sizes={"test": 6}).load("test")]
TOKENIZER = build_tokenizer()
# Grouped-query attention (4 query heads, 2 kv heads) wherever the architecture has it.
DECODER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2)
# Sliding windows shorter than prompt + completion, so the window really cuts what a token sees.
ARCHITECTURES = {
    "llama": lambda v, **ids: tf.LlamaForCausalLM(tf.LlamaConfig(vocab_size=v, **ids, **DECODER)),
    "gpt2": lambda v, **ids: tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=v, **ids, n_embd=32, n_layer=2, n_head=4)),
    "gptj": lambda v, **ids: tf.GPTJForCausalLM(tf.GPTJConfig(vocab_size=v, **ids, n_embd=32, n_layer=2, n_head=4, rotary_dim=4)),
    "qwen2": lambda v, **ids: tf.Qwen2ForCausalLM(tf.Qwen2Config(vocab_size=v, **ids, **DECODER)),
    "qwen3": lambda v, **ids: tf.Qwen3ForCausalLM(tf.Qwen3Config(vocab_size=v, **ids, head_dim=8, **DECODER)),
    "mistral": lambda v, **ids: tf.MistralForCausalLM(tf.MistralConfig(vocab_size=v, **ids, sliding_window=8, **DECODER)),
    "phi3": lambda v, **ids: tf.Phi3ForCausalLM(tf.Phi3Config(vocab_size=v, **ids, **DECODER)),
    "gemma3_text": lambda v, **ids: tf.Gemma3ForCausalLM(tf.Gemma3TextConfig(
        vocab_size=v, head_dim=8, sliding_window=8, layer_types=["sliding_attention", "full_attention"], **DECODER)),
}


def tiny(model_type: str) -> torch.nn.Module:
    torch.manual_seed(0)
    ids = {"pad_token_id": TOKENIZER.pad_token_id, "eos_token_id": TOKENIZER.eos_token_id,
           "bos_token_id": TOKENIZER.bos_token_id}
    return ARCHITECTURES[model_type](len(TOKENIZER), **ids).eval()


def test_every_fast_architecture_is_tested_here():
    assert set(ARCHITECTURES) == FAST_MODEL_TYPES


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_engines_agree(model_type):
    model = tiny(model_type)
    assert model.config.model_type == model_type
    greedy = SamplingParams(max_new_tokens=16)
    fast = HFSampler(model, TOKENIZER, batch_size=4, show_progress=False)
    library = HFSampler(model, TOKENIZER, batch_size=4, show_progress=False, engine="generate")
    assert (fast.engine, library.engine) == ("fast", "generate")
    assert [c[0].text for c in fast.sample(PROMPTS, greedy)] == [c[0].text for c in library.sample(PROMPTS, greedy)]

    # Sampled rows, some stopped early (one token in thirty ends a row), left padding, n samples per prompt.
    prompts = [fast.encode(p) for p in PROMPTS[:3]]
    params = SamplingParams(n=3, temperature=1.0, top_p=0.9, max_new_tokens=16, seed=1)
    stop = set(range(3, len(TOKENIZER), 30))
    torch.manual_seed(1)
    for rows in (decode_batch(model, prompts, 3, params, stop, TOKENIZER.pad_token_id, torch.Generator().manual_seed(1)),
                 generate_batch(model, prompts, 3, params, stop, TOKENIZER.pad_token_id)):
        assert len(rows) == 9 and len({len(r.tokens) for r in rows}) > 1
        assert all(t not in stop for r in rows for t in r.tokens[:-1])
        for i, row in enumerate(rows):
            assert row.logprob == pytest.approx(full_forward_logprob(model, prompts[i // 3], row.tokens), abs=1e-4)


def test_generate_engine_is_seeded_and_returns_n():
    sampler = HFSampler(tiny("llama"), TOKENIZER, batch_size=4, show_progress=False, engine="generate")
    params = SamplingParams(n=2, temperature=1.0, top_p=0.95, max_new_tokens=8, seed=3)
    a, b = sampler.sample(PROMPTS, params), sampler.sample(PROMPTS, params)
    assert [len(r) for r in a] == [2] * len(PROMPTS)
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]
    assert a != sampler.sample(PROMPTS, SamplingParams(n=2, temperature=1.0, top_p=0.95, max_new_tokens=8, seed=4))


def test_auto_falls_back_to_generate_on_other_architectures(capsys):
    torch.manual_seed(0)
    model = tf.OPTForCausalLM(tf.OPTConfig(vocab_size=len(TOKENIZER), hidden_size=32, num_hidden_layers=1,
                                           ffn_dim=64, num_attention_heads=4, word_embed_proj_dim=32)).eval()
    sampler = HFSampler(model, TOKENIZER, show_progress=False)
    assert sampler.engine == "generate"
    assert "not tested on opt models; sampling with model.generate" in capsys.readouterr().err
    assert HFSampler(model, TOKENIZER, show_progress=False, engine="fast").engine == "fast"  # asked for: no note
    assert capsys.readouterr().err == ""
    [[completion]] = sampler.sample(PROMPTS[:1], SamplingParams(max_new_tokens=4))
    assert completion.num_tokens == 4
