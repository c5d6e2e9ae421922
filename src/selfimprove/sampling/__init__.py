"""Samplers: a local HF model (hf.py) or any OpenAI-compatible server (openai_backend.py), chosen by
`model.backend`. Imports stay lazy so that choosing one backend never loads the other's dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from selfimprove.sections import ModelSection
from selfimprove.types import Completion, Message, Prompt, Sampler, SamplingParams, Scored, Scorer

Engine = Literal["auto", "fast", "generate"]  # sampling.engine (selfimprove.sampling.hf)


def as_chat(prompt: Prompt) -> list[Message]:
    """A prompt as chat messages: a text prompt becomes one user message; messages stay as they are."""
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


class ChatPrompts:
    """Wraps a sampler so that text prompts are sent as one user message, i.e. through the model's chat
    template (what instruct models were trained on). Records keep the task's prompt as written."""

    chat = True  # prompts are answered in an assistant turn (types.task_stop)

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        return self.inner.sample([as_chat(p) for p in prompts], params)


class ChatScoringPrompts(ChatPrompts):
    """ChatPrompts around a sampler that also scores text (types.Scorer): scoring sends the prompts through
    the chat template too."""

    def __init__(self, inner: Scorer) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self.scorer = inner

    def perplexities(self, prompts: list[Prompt], texts: list[str], batch_size: int = 32) -> list[Scored | None]:
        return self.scorer.perplexities([as_chat(p) for p in prompts], texts, batch_size)


def chat_prompts(inner: Sampler) -> ChatPrompts:
    """`inner` with text prompts sent as chat messages, still a Scorer when `inner` is one."""
    return ChatScoringPrompts(inner) if isinstance(inner, Scorer) else ChatPrompts(inner)


def make_sampler(model: ModelSection, batch_size: int = 64, show_progress: bool = True,
                 engine: Engine = "auto") -> Sampler:
    """The sampler `model` asks for: a local HF model (path, hub id or preset), decoded by `engine`
    (sampling.engine), or a served model by name."""
    sampler: Sampler
    if model.backend == "openai":
        from selfimprove.sampling.openai_backend import OpenAISampler

        sampler = OpenAISampler(model.path, model.server, show_progress=show_progress)
    else:
        from selfimprove.models import PRESETS, is_preset
        from selfimprove.progress import stderr
        from selfimprove.sampling.hf import HFSampler, load_model

        if is_preset(model.path) and PRESETS[model.path].chat and not model.chat:
            stderr.print(f"note: {model.path} is an instruct model; model.chat=true sends prompts through its "
                         "chat template", highlight=False)
        hf_model, tokenizer = load_model(model.path, model.dtype, model.device)
        sampler = HFSampler(hf_model, tokenizer, batch_size=batch_size, show_progress=show_progress, engine=engine)
    return chat_prompts(sampler) if model.chat else sampler


@contextmanager
def open_sampler(model: ModelSection, serve_log: Path, batch_size: int = 64, engine: Engine = "auto",
                 show_progress: bool = True) -> Iterator[Sampler]:
    """`make_sampler`'s sampler for the block; with model.serve.command, a server started on the checkpoint
    for the block (sampling/serve.py, its output appended to `serve_log`) and stopped after it."""
    if not model.serve.command:
        yield make_sampler(model, batch_size, show_progress, engine)
        return
    from selfimprove.models import resolve_model_path
    from selfimprove.sampling.serve import ServedModel

    with ServedModel(model, resolve_model_path(model.path), serve_log, show_progress) as sampler:
        yield ChatPrompts(sampler) if model.chat else sampler
