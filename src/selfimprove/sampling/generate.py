"""One batch of sampling with the library's own `model.generate`: the safe engine for architectures the fast
decoding loop (decode.py) is not tested on, and the baseline it is measured against.

It returns what decode.py returns: per row the generated token ids (stop token included) and their total
log-probability under the model's raw distribution, before temperature and top-p, so both engines' logprobs
mean the same thing. `generate` reports only processed scores, or raw logits for every step and row kept
until the end (rows x steps x vocabulary floats, gigabytes for a 150k vocabulary); `RawLogprob` instead keeps
one number per row and step.
"""

from __future__ import annotations

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedModel

from selfimprove.sampling.decode import Decoded, left_pad
from selfimprove.types import SamplingParams


class RawLogprob(LogitsProcessor):
    """Records, at each step, the log-probability of the token chosen at the step before. A custom processor
    runs before the temperature and top-p warpers (transformers' processor order), so it sees raw logits."""

    def __init__(self) -> None:
        self.chosen: list[torch.Tensor] = []  # per step: (rows,) log-probability of the token drawn
        self.last: torch.Tensor | None = None  # the latest step's log-softmax, until its token is known

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.take(input_ids[:, -1])
        self.last = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def take(self, token: torch.Tensor) -> None:
        if self.last is not None:
            self.chosen.append(self.last.gather(-1, token[:, None]).squeeze(-1))
            self.last = None


def generation_config(params: SamplingParams, stop_ids: set[int], pad_id: int) -> GenerationConfig:
    """Only what the fast engine does: temperature then top-p, no top-k (the library's default is 50), no
    repetition penalty, whatever the checkpoint's own generation config says."""
    return GenerationConfig(
        do_sample=not params.greedy, temperature=params.temperature if not params.greedy else 1.0,
        top_p=params.top_p if not params.greedy else 1.0, top_k=0, repetition_penalty=1.0,
        max_new_tokens=params.max_new_tokens, eos_token_id=sorted(stop_ids), pad_token_id=pad_id,
        num_return_sequences=1 if params.greedy else params.n,
    )


@torch.inference_mode()
def generate_batch(model: PreTrainedModel, prompts: list[list[int]], n: int, params: SamplingParams,
                   stop_ids: set[int], pad_id: int) -> list[Decoded]:
    """`n` continuations of each prompt through `model.generate`; row i*n + j is sample j of prompt i. Draws
    come from torch's global generator (generate takes no other), which the caller seeds."""
    ids, mask = left_pad(prompts, pad_id, model.device)
    scorer = RawLogprob()
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=generation_config(
        params, stop_ids, pad_id), logits_processor=LogitsProcessorList([scorer]))
    generated = out[:, ids.shape[1]:]
    scorer.take(generated[:, -1])
    steps = torch.stack(scorer.chosen, dim=1).double() if scorer.chosen else generated.new_zeros((len(out), 0))
    rows = []
    for tokens, logprobs in zip(generated.tolist(), steps):
        end = next((k + 1 for k, t in enumerate(tokens) if t in stop_ids), len(tokens))
        rows.append(Decoded(tokens[:end], float(logprobs[:end].sum())))
    return rows
