"""Multi-attempt episodes (Kumar et al. 2024, SCoRe, Sec. 3): each problem's first completion is followed
by the task's correction instruction and another attempt, `attempts - 1` times, every attempt verified.

The result replaces each first completion by an episode: a Completion whose `attempts` hold every attempt
and whose own text, answer and correctness are the last attempt's (selfimprove.types), so every single-attempt
metric reads the final answer and selfimprove.metrics.correction reads the pairs.
"""

from __future__ import annotations

from dataclasses import fields, replace

from selfimprove.correction import correction_instruction, second_turn_prompt
from selfimprove.errors import UserError
from selfimprove.sampling import ChatPrompts, as_chat
from selfimprove.types import Completion, Problem, Prompt, Sampler, SamplingParams, Task
from selfimprove.verify import grade


def check_attempts(task: Task, attempts: int) -> None:
    """Refuse attempts < 1, and more than one attempt on a task without a correction instruction."""
    if attempts < 1:
        raise UserError(f"attempts must be at least 1 (1 = a single answer, 2 = answer then correct it); got {attempts}")
    if attempts > 1:
        correction_instruction(task)


def episode(attempts: list[Completion]) -> Completion:
    """One completion holding every attempt; its own fields are the last attempt's."""
    last = attempts[-1]
    own = {f.name: getattr(last, f.name) for f in fields(Completion) if f.name not in ("attempts", "judgments")}
    return Completion(**own, attempts=[replace(a, attempts=[]) for a in attempts])


def next_prompts(sampler: Sampler, task: Task, prompts: list[Prompt], texts: list[str],
                 instruction: str | None = None, prefix: str | None = None) -> list[Prompt]:
    """The prompts of the next turn: by default the task's correction instruction and answer prefix. A sampler
    that sends text prompts as chat (model.chat) gets the conversation as messages, so the first attempt is the
    assistant's turn, as the model saw it."""
    chat = isinstance(sampler, ChatPrompts)
    prefix = (getattr(task, "answer_prefix", "") or "") if prefix is None else prefix
    instruction = correction_instruction(task) if instruction is None else instruction
    return [second_turn_prompt(as_chat(p) if chat else p, t, instruction, prefix) for p, t in zip(prompts, texts)]


def correct_attempts(sampler: Sampler, task: Task, problems: list[Problem], prompts: list[Prompt],
                     firsts: list[Completion], params: SamplingParams, attempts: int) -> list[Completion]:
    """Episodes of `attempts` attempts from verified first completions: each later attempt answers the
    previous conversation plus the correction instruction (one completion per prompt, `params` decoding)."""
    check_attempts(task, attempts)
    if params.n != 1:
        raise UserError("later attempts are sampled one per episode; use n=1 sampling params")
    history = [[c] for c in firsts]
    current = list(prompts)
    for _ in range(attempts - 1):
        current = next_prompts(sampler, task, current, [h[-1].text for h in history])
        for problem, group, h in zip(problems, sampler.sample(current, params), history):
            h.append(grade(task, group[0], problem.gold))
    return [episode(h) if len(h) > 1 else h[0] for h in history]
