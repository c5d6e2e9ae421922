"""SCoRe: multi-turn RL that trains a model to correct its own first attempt (Kumar et al. 2024, "Training
Language Models to Self-Correct via Reinforcement Learning", arXiv 2409.12917, Sec. 5).

Why hand-written: TRL's GRPOTrainer gives one advantage per completion and one β for all its tokens, but
Stage I needs a reward on the second attempt only and a KL penalty on the first attempt only (with its own,
ten times larger β), and Stage II a reward per attempt with a bonus that depends on both. So this module
is the smallest REINFORCE trainer that states those objectives; sampling reuses the framework's sampler and
the second turn its `second_turn_prompt`, so the model trains on the prompts it is evaluated with.

One step: sample a first attempt y1 ~ π(·|x1) for each of `prompts_per_step` problems, append the task's
correction instruction p, sample y2 ~ π(·|x1, y1, p), verify both (r1, r2 ∈ {0, 1}), then descend

    Stage I  (Eq. 3)   L = −Â2·log π(y2|x2) + β2·KL1
    Stage II (Eq. 4)   L = −Â1·log π(y1|x1) − Â2'·log π(y2|x2) + β1·(KL1 + KL2),  r2' = r2 + α·(r2 − r1)
    single-turn RL     L = −Â1·log π(y1|x1) + β1·KL1  (the paper's ablation: RL on first attempts only)

averaged over the batch, where log π(y|x) sums the attempt's token log-probabilities (its prompt, including
the instruction of the second turn, carries no loss), Â = reward − batch mean (REINFORCE with a mean baseline,
Williams 1992), and KLi = Σ_t k3 over attempt i's tokens with k3 = exp(q) − q − 1, q = log πref − log π, the
non-negative per-token estimator of KL(π‖πref) (Schulman 2020, "Approximating KL divergence"; the estimator
TRL's GRPO uses). Each attempt is credited with its own (shaped) reward only, so the bonus acts on the second
attempt as in the paper, never pushing the first attempt to fail. The reference πref is the starting model.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from selfimprove.attempts import correct_attempts, next_prompts
from selfimprove.errors import UserError
from selfimprove.progress import StepBar
from selfimprove.sampling.hf import HFSampler
from selfimprove.train.rewards import task_of
from selfimprove.train.score_config import SCoReSection
from selfimprove.sampling import ChatPrompts, as_chat
from selfimprove.types import Completion, Problem, Prompt, Sampler, SamplingParams, task_stop
from selfimprove.verify import grade

Stage = Literal["I", "II", "single"]
Tensor = torch.Tensor


def score_loss(stage: Stage, logp: tuple[Tensor, Tensor | None], kl: tuple[Tensor, Tensor | None],
               rewards: tuple[Tensor, Tensor | None], cfg: SCoReSection) -> tuple[Tensor, dict[str, float]]:
    """The batch loss of a stage (module docstring; Kumar et al. 2024, Eq. 3 for Stage I, Eq. 4 with the
    bonus of Sec. 5 for Stage II) from per-episode sequence log-probs, KL estimates and rewards of each attempt
    (the second attempt's are None for single-turn RL)."""
    (s1, s2), (k1, k2), (r1, r2) = logp, kl, rewards
    beta2 = cfg.beta2_factor * cfg.beta1
    if stage == "single":
        return (-(r1 - r1.mean()) * s1 + cfg.beta1 * k1).mean(), {}
    if s2 is None or k2 is None or r2 is None:
        raise ValueError(f"stage {stage} needs the second attempt")
    if stage == "I":
        return (-(r2 - r2.mean()) * s2 + beta2 * k1).mean(), {}
    shaped = r2 + cfg.alpha * (r2 - r1)
    loss = -(r1 - r1.mean()) * s1 - (shaped - shaped.mean()) * s2 + cfg.beta1 * (k1 + k2)
    return loss.mean(), {"shaped_reward_2": float(shaped.mean())}


def attempt_batch(encode: Callable[[Prompt], list[int]], tokenizer: PreTrainedTokenizerBase, prompts: list[Prompt],
                  completions: list[str], ended: list[bool]) -> tuple[Tensor, Tensor, Tensor]:
    """(ids, attention mask, loss mask) of prompt + completion (+ EOS when the attempt ended on it), right-
    padded. Only completion tokens carry loss: a second turn's prompt (first attempt and instruction) does not."""
    rows, masks = [], []
    for prompt, text, eos in zip(prompts, completions, ended):
        p = encode(prompt)
        c = tokenizer(text, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
        rows.append(p + c)
        masks.append([0] * len(p) + [1] * len(c))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id

    def padded(values: list[list[int]], fill: int) -> Tensor:
        return torch.tensor([v + [fill] * (width - len(v)) for v in values])

    return padded(rows, pad), padded([[1] * len(r) for r in rows], 0), padded(masks, 0)


def token_logprobs(model: PreTrainedModel, ids: Tensor, attention: Tensor) -> tuple[Tensor, Tensor]:
    """Log-probability of each next token and the entropy of each next-token distribution, (B, T-1)."""
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    taken = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logprobs.exp() * logprobs).sum(-1)
    return taken, entropy


def attempt_terms(model: PreTrainedModel, ref: PreTrainedModel, batch: tuple[Tensor, Tensor, Tensor]
                  ) -> tuple[Tensor, Tensor, float]:
    """Per episode: log π(y|x) (summed over the attempt's tokens), Σ_t k3 against the reference, and the mean
    token entropy of the attempt (for the log)."""
    ids, attention, mask = (t.to(model.device) for t in batch)
    target = mask[:, 1:].float()
    logp, entropy = token_logprobs(model, ids, attention)
    with torch.no_grad():
        ref_logp, _ = token_logprobs(ref, ids, attention)
    q = ref_logp - logp
    k3 = torch.exp(q) - q - 1
    seq_entropy = float((entropy.detach() * target).sum() / target.sum().clamp(min=1))
    return (logp * target).sum(-1), (k3 * target).sum(-1), seq_entropy


def rollout(sampler: Sampler, task: Any, problems: list[Problem], params: SamplingParams, two: bool) -> list[Any]:
    """On-policy episodes: a verified first attempt per problem and, when `two`, the second attempt."""
    prompts = [p.prompt for p in problems]
    firsts = [grade(task, group[0], p.gold) for p, group in zip(problems, sampler.sample(prompts, params))]
    if not two:
        return firsts
    return correct_attempts(sampler, task, problems, prompts, firsts, params, 2)


def score_step(model: PreTrainedModel, ref: PreTrainedModel, sampler: Sampler, local: HFSampler, task: Any,
               problems: list[Problem], stage: Stage, cfg: SCoReSection, seed: int) -> tuple[Tensor, dict[str, float]]:
    """Roll out, verify and return the stage's loss with the step's record: reward of each attempt, Δ on the
    batch, KL of each attempt to the reference, token entropy. `local` is the HF sampler inside `sampler`
    (whose tokenization the log-probs reuse)."""
    params = SamplingParams(1, cfg.temperature, 1.0, cfg.max_new_tokens, task_stop(task, sampler), seed)
    model.eval()
    with torch.no_grad():
        episodes = rollout(sampler, task, problems, params, two=stage != "single")
    model.train()
    prompts = [as_chat(p.prompt) if isinstance(sampler, ChatPrompts) else p.prompt for p in problems]

    def terms(attempt_prompts: list[Prompt], attempts: list[Completion]) -> tuple[Tensor, Tensor, float]:
        ended = [a.num_tokens < cfg.max_new_tokens for a in attempts]
        batch = attempt_batch(local.encode, local.tokenizer, attempt_prompts, [a.text for a in attempts], ended)
        return attempt_terms(model, ref, batch)

    firsts = [e.attempts[0] if e.attempts else e for e in episodes]
    s1, k1, h1 = terms(prompts, firsts)
    r1 = torch.tensor([float(bool(a.correct)) for a in firsts], device=s1.device)
    log = {"reward_1": float(r1.mean()), "kl_1": float(k1.detach().mean()), "entropy_1": h1}
    s2 = k2 = r2 = None
    if stage != "single":
        seconds = [e.attempts[1] for e in episodes]
        s2, k2, h2 = terms(next_prompts(sampler, task, [p.prompt for p in problems], [a.text for a in firsts]), seconds)
        r2 = torch.tensor([float(bool(a.correct)) for a in seconds], device=s2.device)
        log |= {"reward_2": float(r2.mean()), "delta": float((r2 - r1).mean()), "kl_2": float(k2.detach().mean()),
                "entropy_2": h2}
    loss, extra = score_loss(stage, (s1, s2), (k1, k2), (r1, r2), cfg)
    return loss, {**log, **extra, "loss": float(loss.detach())}


def problems_of(rows: list[dict[str, Any]]) -> tuple[Any, list[Problem]]:
    """The task and problems of RL rows {"prompt", "gold", "task"} (one task for all rows)."""
    specs = {row["task"] for row in rows}
    if len(specs) != 1:
        raise UserError(f"SCoRe trains on one task at a time; the rows name {len(specs)}")
    return task_of(specs.pop()), [Problem(str(i), row["prompt"], row["gold"]) for i, row in enumerate(rows)]


def train_score(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]],
                cfg: SCoReSection, steps: int, stage: Stage, work: Path, ref: PreTrainedModel | None = None,
                seed: int = 0, chat: bool = False) -> PreTrainedModel:
    """Run `steps` optimizer steps of a stage on RL rows, cycling through them in a seeded order; each step's
    record is appended to `work/steps.jsonl`. `ref` is the KL anchor (default: a frozen copy of `model`)."""
    if not rows:
        raise UserError("SCoRe needs at least one problem; none were given")
    task, problems = problems_of(rows)
    ref = ref if ref is not None else copy.deepcopy(model)
    ref.eval().requires_grad_(False)
    inner = HFSampler(model, tokenizer, batch_size=cfg.prompts_per_step, show_progress=False)
    sampler: Sampler = ChatPrompts(inner) if chat else inner
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
    order = torch.randperm(len(problems), generator=torch.Generator().manual_seed(seed)).tolist()
    work.mkdir(parents=True, exist_ok=True)
    bar, start = StepBar(f"SCoRe {stage}"), time.monotonic()
    bar.start(steps)
    for step in range(steps):
        batch = [problems[order[(step * cfg.prompts_per_step + i) % len(order)]] for i in range(cfg.prompts_per_step)]
        loss, log = score_step(model, ref, sampler, inner, task, batch, stage, cfg, seed * 100_003 + step)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        with (work / "steps.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"stage": stage, "step": step + 1, **log, "seconds": time.monotonic() - start}) + "\n")
        bar.advance(1, f"r1 {log['reward_1']:.2f}" + (f" r2 {log['reward_2']:.2f}" if "reward_2" in log else ""))
    bar.stop()
    model.eval()
    return model
