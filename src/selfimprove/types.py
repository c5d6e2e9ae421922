"""The whole contract between tasks, samplers, verifiers, curation and metrics.

A `Task` turns a dataset into `Problem`s and verifies answers; a `Sampler` turns prompts into
`Completion`s; a `Record` is one problem at one iteration with everything sampled for it. Records are
written one JSON line each, so every number in a report can be traced back to the text behind it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, Protocol, runtime_checkable

ExtractMode = Literal["strict", "flexible"]
Message = dict[str, str]
Prompt = str | list[Message]


@dataclass(frozen=True)
class Problem:
    """One problem: the text shown to the model, the gold answer, and metadata (split, difficulty, source)."""

    id: str
    prompt: Prompt
    gold: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Completion:
    """One sampled answer. `answer`/`correct` use strict extraction; the `_flexible` twins the lenient one
    (reported side by side, as lm-evaluation-harness does). `steps_*` hold the step check of tasks with
    checkable arithmetic (selfimprove.verify.steps): `steps_ok` is None when nothing was checked or the task
    has no step check (code tasks), `steps_wrong` lists the wrong statements."""

    text: str
    num_tokens: int = 0
    logprob: float | None = None
    answer: str | None = None
    correct: bool | None = None
    answer_flexible: str | None = None
    correct_flexible: bool | None = None
    steps_ok: bool | None = None
    steps_checked: int = 0
    steps_wrong: list[str] = field(default_factory=list)
    # A multi-attempt episode (self-correction, selfimprove.correction): attempts[0] is the first attempt,
    # attempts[1] the second, ...; this completion's own text/answer/correct are the last attempt's, so every
    # single-attempt metric reads the final answer. Empty for a single attempt.
    attempts: list[Completion] = field(default_factory=list)
    # LLM-as-a-judge scores of this completion (selfimprove.judges): one dict per judgment
    # (score: float | None, text: the judge's own output, parsed: whether a score was found).
    judgments: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Completion:
        """A completion read back from a record file, its attempts included."""
        data = dict(row)
        data["attempts"] = [cls.from_dict(a) for a in data.get("attempts", [])]
        return cls(**data)


@dataclass
class Record:
    """One problem at one iteration: the rendered prompt, the greedy completion and N samples."""

    problem_id: str
    iteration: int
    split: str
    prompt: Prompt
    gold: str
    metadata: dict[str, Any] = field(default_factory=dict)
    greedy: Completion | None = None
    samples: list[Completion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Record:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in known}
        if data.get("greedy") is not None:
            data["greedy"] = Completion.from_dict(data["greedy"])
        data["samples"] = [Completion.from_dict(c) for c in data.get("samples", [])]
        return cls(**data)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature == 0 means greedy decoding (and n is then 1 per prompt)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@runtime_checkable
class Sampler(Protocol):
    """Anything that turns prompts into completions: a local HF model, a served model, a judge."""

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """Return, for each prompt, `params.n` completions (text, token count, optional logprob)."""
        ...


@dataclass(frozen=True)
class Scored:
    """The score of a given text as the continuation of a prompt: exp of the mean negative log-likelihood of
    its tokens given everything before them, and how many tokens were scored."""

    perplexity: float
    tokens: int


@runtime_checkable
class Scorer(Protocol):
    """A model that scores given text instead of sampling it (log-likelihood requests, as lm-evaluation-harness
    makes them): a local model does, a served chat endpoint does not."""

    def perplexities(self, prompts: list[Prompt], texts: list[str], batch_size: int = 32) -> list[Scored | None]:
        """For each (prompt, text), the text's perplexity given the prompt (None when the pair does not fit the
        model's context or the text has no tokens)."""
        ...


@runtime_checkable
class Task(Protocol):
    """A dataset with its prompt format, answer extraction and verification (one small file each)."""

    name: str
    splits: tuple[str, ...]

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        """Problems of a split, in a fixed order; `limit` keeps the first ones."""
        ...

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """The prompt shown to the model, zero-shot or with `shots` worked examples from a training split."""
        ...

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        """The final answer in a completion, or None when there is none in the expected form."""
        ...

    def verify(self, answer: str | None, gold: str) -> bool:
        """Whether an extracted answer matches the gold answer."""
        ...

    # A task whose completions have checkable arithmetic steps also defines
    # `check_steps(self, text: str) -> selfimprove.verify.steps.StepCheck`; `selfimprove.verify.grade`
    # records it. A task may declare `stop: tuple[str, ...]`, strings that end a completion (read with
    # `task_stop`).


def task_stop(task: Task, sampler: object = None, *, chat: bool | None = None) -> tuple[str, ...]:
    """The strings that end a completion of `task` (few-shot GSM8K: the next `Question:`), or none. A task's
    `stop` is written for its plain-text prompt format; a chat model (a sampler with `chat = True`, or
    `chat=True` given) answers in an assistant turn instead, so it stops at the task's `chat_stop` when the
    task declares one (HumanEval: none, since a chat model's whole program would be cut at its first `def`)."""
    if chat if chat is not None else getattr(sampler, "chat", False):
        return tuple(getattr(task, "chat_stop", getattr(task, "stop", ())) or ())
    return tuple(getattr(task, "stop", ()) or ())


def with_stop(params: SamplingParams, stop: tuple[str, ...]) -> SamplingParams:
    """`params` that also stop at `stop` (a task's stop strings after the config's, without repeats)."""
    merged = tuple(dict.fromkeys((*params.stop, *stop)))
    return params if merged == params.stop else replace(params, stop=merged)
