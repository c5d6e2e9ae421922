"""The local sampler against the real model: greedy equals `model.generate`, seeded, n per prompt, stops."""

from __future__ import annotations

import pytest
import torch

from selfimprove.sampling.decode import decode_batch
from selfimprove.sampling.hf import HFSampler, load_model
from selfimprove.sampling.shared_prompt import share
from selfimprove.tasks import get_task
from selfimprove.types import SamplingParams

PROMPTS = [str(p.prompt) for p in get_task("arith", sizes={"test": 12}).load("test")]


@pytest.mark.parametrize("heads", ["mha", "gqa"])
def test_greedy_matches_model_generate(micro_model, heads):
    """Through the whole sampler: packed and fused projections (q/k/v of unequal widths with grouped-query
    attention), batches of prompts of unequal lengths, rows dropped as they stop."""
    model, tok = load_model(str(micro_model), "float32", "cpu") if heads == "mha" else gqa_model(micro_model)
    ours = HFSampler(model, tok, batch_size=5, show_progress=False).sample(PROMPTS, SamplingParams(max_new_tokens=24))
    for prompt, [completion] in zip(PROMPTS, ours):
        enc = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=24, pad_token_id=tok.pad_token_id)
        reference = out[0, enc["input_ids"].shape[1]:].tolist()
        assert completion.text == tok.decode(reference, skip_special_tokens=True)
        assert completion.num_tokens == len(reference)


def test_sampling_is_seeded_and_returns_n(micro_model):
    model, tok = load_model(str(micro_model), "float32", "cpu")
    sampler = HFSampler(model, tok, batch_size=16, show_progress=False)
    params = SamplingParams(n=4, temperature=1.0, top_p=0.95, max_new_tokens=16, seed=3)
    a, b = sampler.sample(PROMPTS, params), sampler.sample(PROMPTS, params)
    assert [len(r) for r in a] == [4] * len(PROMPTS)
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]
    other = sampler.sample(PROMPTS, SamplingParams(n=4, temperature=1.0, top_p=0.95, max_new_tokens=16, seed=4))
    assert [[c.text for c in r] for r in a] != [[c.text for c in r] for r in other]
    assert all(c.logprob is not None and c.logprob <= 0 for r in a for c in r)
    assert len({c.text for r in a for c in r}) > len(PROMPTS)  # samples differ within a prompt


def test_stop_strings_cut_completions(micro_model):
    model, tok = load_model(str(micro_model), "float32", "cpu")
    sampler = HFSampler(model, tok, batch_size=8, show_progress=False)
    free = sampler.sample(PROMPTS, SamplingParams(max_new_tokens=24))
    cut = sampler.sample(PROMPTS, SamplingParams(max_new_tokens=24, stop=("=",)))
    for [f], [c] in zip(free, cut):
        assert "=" not in c.text
        assert f.text.startswith(c.text)


def full_forward_logprob(model, prompt_ids: list[int], tokens: list[int]) -> float:
    """log p(tokens | prompt) from one forward pass over the whole sequence, with no cache at all."""
    ids = torch.tensor([prompt_ids + tokens])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    start = len(prompt_ids)
    return sum(logprobs[start - 1 + i, t].item() for i, t in enumerate(tokens))


def gqa_model(micro_model):
    """A randomly initialised Llama whose 4 query heads share 2 key/value heads, with the micro model's tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tok = load_model(str(micro_model), "float32", "cpu")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tok


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("heads", ["mha", "gqa"])
@pytest.mark.parametrize("share_min_live", [0.0, 1.0], ids=["shared-throughout", "per-row-after-first-drop"])
def test_cached_decoding_scores_every_row_like_a_full_forward(micro_model, attention, heads, share_min_live,
                                                              monkeypatch):
    """Every sampled row's logprob, accumulated step by step through the cache (prompt columns shared by the n
    samples, rows dropped as they stop, the live rows moved to per-row caches, left padding), equals the
    model's log-likelihood of the same tokens from a plain forward pass. One token in thirty stops a row,
    so rows end at different steps and every layout change is exercised."""
    import selfimprove.sampling.decode as decode

    model, tok = load_model(str(micro_model), "float32", "cpu") if heads == "mha" else gqa_model(micro_model)
    model.set_attn_implementation(attention)
    monkeypatch.setattr(decode, "SHARE_MIN_LIVE", share_min_live)
    shared = []
    monkeypatch.setattr(decode, "share", lambda *a: shared.append(1) or share(*a))
    prompts = [HFSampler(model, tok).encode(p) for p in PROMPTS[:6]]
    params = SamplingParams(n=3, temperature=1.0, top_p=1.0, max_new_tokens=20, seed=1)
    rows = decode_batch(model, prompts, 3, params, set(range(3, len(tok), 30)), tok.pad_token_id,
                        torch.Generator().manual_seed(1))
    assert shared, "n > 1 with sdpa or eager attention decodes with shared prompt columns"
    assert len(rows) == 18 and len({len(r.tokens) for r in rows}) > 2, "rows should stop at different steps"
    for i, row in enumerate(rows):
        assert row.logprob == pytest.approx(full_forward_logprob(model, prompts[i // 3], row.tokens), abs=1e-3)


def test_single_samples_score_like_a_full_forward(micro_model):
    """n = 1 decodes with the per-row cache from the start."""
    model, tok = load_model(str(micro_model), "float32", "cpu")
    prompts = [HFSampler(model, tok).encode(p) for p in PROMPTS[:6]]
    params = SamplingParams(n=1, temperature=1.0, top_p=1.0, max_new_tokens=20, seed=1)
    rows = decode_batch(model, prompts, 1, params, set(range(3, len(tok), 30)), tok.pad_token_id,
                        torch.Generator().manual_seed(1))
    assert len({len(r.tokens) for r in rows}) > 2, "rows should stop at different steps"
    for prompt, row in zip(prompts, rows):
        assert row.logprob == pytest.approx(full_forward_logprob(model, prompt, row.tokens), abs=1e-3)


@pytest.mark.parametrize("n", [1, 3])
def test_batches_reusing_one_set_of_buffers_score_like_a_full_forward(micro_model, n):
    """The batches of one sampler call share their KV cache memory (buffers.py): a batch of longer prompts
    (larger buffers), then one of shorter prompts (the same memory, other strides) must each still reproduce a
    full forward pass, whatever the previous batch left in that memory."""
    from selfimprove.sampling.buffers import Buffers

    model, tok = load_model(str(micro_model), "float32", "cpu")
    encoded = sorted((HFSampler(model, tok).encode(p) for p in PROMPTS), key=len)
    buffers = Buffers()
    params = SamplingParams(n=n, temperature=1.0, top_p=1.0, max_new_tokens=16, seed=1)
    for prompts in (encoded[:4], encoded[-4:], encoded[:3]):
        rows = decode_batch(model, prompts, n, params, set(range(3, len(tok), 30)), tok.pad_token_id,
                            torch.Generator().manual_seed(1), buffers)
        for i, row in enumerate(rows):
            assert row.logprob == pytest.approx(full_forward_logprob(model, prompts[i // n], row.tokens), abs=1e-3)
    kept = dict(buffers._storage)
    decode_batch(model, encoded[:4], n, params, set(), tok.pad_token_id, torch.Generator().manual_seed(1), buffers)
    assert all(buffers._storage[role] is storage for role, storage in kept.items()), "memory is reused, not new"
