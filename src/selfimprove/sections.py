"""Config sections shared by several commands: which task, which model, how to sample."""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from selfimprove.config import Section
from selfimprove.types import SamplingParams


class TaskSection(Section):
    name: str = Field("arith", description="Task name (see `selfimprove ls`).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options passed to the task, e.g. {seed: 0, sizes: {test: 200}} for arith or {data_dir: DIR}.",
    )
    shots: int = Field(0, ge=0, description="Number of worked examples (from a training split) before each prompt.")


class ServerSection(Section):
    """How to reach an OpenAI-compatible server (vLLM, SGLang, llama.cpp server, `transformers serve`).
    The API key is read from the environment only, so it is never written to a config or run directory."""

    base_url: str | None = Field(
        None, description="Server URL ending in /v1; unset = $SELFIMPROVE_BASE_URL, then $OPENAI_BASE_URL."
    )
    api_key_env: str = Field(
        "SELFIMPROVE_API_KEY",
        description="Name of the environment variable holding the API key (falls back to $OPENAI_API_KEY; "
        "local servers without auth need none).",
    )
    concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    timeout_s: float = Field(300.0, gt=0, description="Seconds to wait for one response before retrying.")
    max_retries: int = Field(
        4, ge=0, description="Retries, with exponential backoff, after connection errors, 408, 409, 429 and 5xx."
    )
    logprobs: bool = Field(
        True, description="Ask for token logprobs (fills Completion.logprob and exact token counts); "
        "turn off for servers that reject it."
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra JSON fields sent with every request (server-specific, e.g. vLLM's top_k).",
    )


class ServeSection(Section):
    """A server the run starts itself on each checkpoint it samples from (vLLM, SGLang, `transformers serve`),
    stopped before training; training still loads the local weights."""

    command: str | None = Field(
        None, description="Command that serves one checkpoint through an OpenAI-compatible API, with {model} "
        "(the checkpoint path, also the served model name) and {port}, e.g. 'vllm serve {model} --port {port}'; "
        "unset = sample with the local sampler.",
    )
    port: int = Field(0, ge=0, le=65535, description="Port to serve on; 0 = a free port picked at each start.")
    startup_timeout_s: float = Field(
        600.0, gt=0, description="Seconds to wait for the server to answer its health check (loading a 7B model "
        "and compiling kernels takes minutes).",
    )
    health_path: str = Field(
        "/health", description="Path answered with 200 once the server is ready (/health for vLLM, SGLang and "
        "transformers serve).",
    )

    @field_validator("command")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None and not all(k in value for k in ("{model}", "{port}")):
            raise ValueError("the serve command must contain {model} and {port}, e.g. "
                             "'vllm serve {model} --port {port}'")
        if value is not None:
            try:
                shlex.split(value)  # it is run as shell-style words (sampling/serve.py)
            except ValueError as e:
                raise ValueError(f"the serve command does not split into shell words ({e}); check its quotes") from None
        return value


class ModelSection(Section):
    path: str = Field(..., description="HF checkpoint directory or hub id of the model.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto = float32 on CPU, bfloat16 on CUDA when supported."
    )
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")
    backend: Literal["hf", "openai"] = Field(
        "hf",
        description="hf = load `path` locally (a checkpoint, hub id or preset such as smollm2-135m); "
        "openai = sample from an OpenAI-compatible server, `path` being the served model name.",
    )
    chat: bool = Field(
        False, description="Send text prompts as one user message through the chat template (instruct models)."
    )
    server: ServerSection = Field(default_factory=ServerSection, description="The server, when backend=openai; "
                                  "with serve.command, its request settings (concurrency, timeouts, extra_body).")
    serve: ServeSection = Field(default_factory=ServeSection, description="Sample each checkpoint of a run "
                                "(or the model `selfimprove eval` evaluates) through a server started on it "
                                "(backend=hf: training uses the local weights).")

    @model_validator(mode="after")
    def _serve_needs_local_weights(self) -> ModelSection:
        if self.serve.command and self.backend != "hf":
            raise ValueError("model.serve.command serves the run's local checkpoints: use it with backend=hf "
                             "(backend=openai samples from a server that is already running)")
        return self


class SamplingSection(Section):
    n: int = Field(8, ge=1, description="Samples per prompt.")
    temperature: float = Field(0.75, ge=0.0, description="Sampling temperature (Wu et al. 2024 use 0.75); 0 = greedy.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass (Wu et al. 2024 use 0.95).")
    max_new_tokens: int = Field(96, ge=1, description="Longest completion, in tokens.")
    stop: list[str] = Field(default_factory=list, description="Strings that end a completion (cut before them).")
    batch_size: int = Field(64, ge=1, description="Sequences decoded together by the local sampler.")
    engine: Literal["auto", "fast", "generate"] = Field(
        "auto", description="Local sampler's decoding: fast = our decoding loop (tested on Llama, GPT-2, GPT-J, "
        "Qwen2, Qwen3, Mistral, Phi-3, Gemma 3 text), generate = transformers' model.generate, auto = fast on "
        "those architectures, else generate (with a note).",
    )
    seed: int = Field(0, description="Sampling seed; the same seed gives the same samples.")

    def params(self, greedy: bool = False) -> SamplingParams:
        """SamplingParams for sampled decoding, or for one greedy completion per prompt."""
        if greedy:
            return SamplingParams(1, 0.0, 1.0, self.max_new_tokens, tuple(self.stop), self.seed)
        return SamplingParams(self.n, self.temperature, self.top_p, self.max_new_tokens, tuple(self.stop), self.seed)
