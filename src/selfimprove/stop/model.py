"""The language model an improver calls, on the host: any Sampler (a local HF model or an
OpenAI-compatible server, selfimprove.sampling) behind the paper's batch_prompt(expertise, messages,
temperature) -> one response per message."""

from __future__ import annotations

import itertools

from selfimprove.stop.channel import Model
from selfimprove.types import Sampler, SamplingParams


def sampler_model(sampler: Sampler, max_new_tokens: int, top_p: float = 1.0, seed: int = 0) -> Model:
    """A Model over `sampler`: the expertise line then the message as one prompt (sent through the chat
    template when model.chat is set); each call draws with a fresh seed, so repeated calls differ."""
    calls = itertools.count()

    def model(expertise: str, messages: list[str], temperature: float) -> list[str]:
        params = SamplingParams(1, temperature, top_p, max_new_tokens, (), seed * 100_003 + next(calls))
        prompts = [f"{expertise}\n\n{message}" for message in messages]
        return [outs[0].text if outs else "" for outs in sampler.sample(list(prompts), params)]

    return model
