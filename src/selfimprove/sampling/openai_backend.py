"""The served sampler: any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, `transformers serve`)
through the official `openai` client.

Chat prompts (lists of messages) go to /chat/completions, text prompts to /completions, so the server applies
the model's own chat template exactly when the task asked for one. Retries with exponential backoff on
connection errors, 408, 409, 429 and 5xx are the client's own (`max_retries`); requests run as asyncio tasks
(the client's async API), at most `concurrency` in flight. The first fatal error, or Ctrl-C, cancels every
request still in flight (an asyncio cancellation closes its connection), so the process ends at once instead of
waiting out time-outs. Every API failure, and every response that is not the JSON the API promises, becomes
one UserError naming the server and what was wrong.

Servers differ in what they honour, and the sampler copes rather than assumes:
  * `n` > 1 is asked for in one request (vLLM and SGLang share the prompt's prefill); a server that returns
    fewer choices (`transformers serve` ignores `n`) is asked again for the rest, with a different seed;
  * token counts come from the returned logprobs when there are any, else from `usage` (exact for a single
    choice; for several choices without logprobs the total is shared out by text length, an estimate);
  * stop strings are also cut client-side, as the local sampler does, so completions look the same either way;
    a server that fails on them (`transformers serve` answers 500: its generate needs a tokenizer for stop
    strings) is asked again without them, and not sent them again.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import openai

from selfimprove.errors import UserError
from selfimprove.progress import progress_bar
from selfimprove.sections import ServerSection
from selfimprove.types import Completion, Prompt, SamplingParams

BASE_URL_ENVS = ("SELFIMPROVE_BASE_URL", "OPENAI_BASE_URL")
FALLBACK_KEY_ENV = "OPENAI_API_KEY"
# Local servers without auth accept any key, but the client insists on one (vLLM documents this value).
NO_KEY = "EMPTY"
# Seed of sample j of prompt i is seed + SEED_STRIDE * i + j: distinct per (prompt, sample), reproducible.
SEED_STRIDE = 100_003


def resolve_base_url(server: ServerSection) -> str:
    """The configured URL, else the first of $SELFIMPROVE_BASE_URL, $OPENAI_BASE_URL that is set."""
    url = server.base_url or next((os.environ[e] for e in BASE_URL_ENVS if os.environ.get(e)), None)
    if not url:
        raise UserError("backend=openai needs a server URL: pass --base-url http://HOST:PORT/v1, set "
                        "model.server.base_url, or set $SELFIMPROVE_BASE_URL")
    return url.rstrip("/")


def resolve_api_key(server: ServerSection) -> str:
    """The key from the environment variable named in the config, else $OPENAI_API_KEY, else a placeholder."""
    return os.environ.get(server.api_key_env) or os.environ.get(FALLBACK_KEY_ENV) or NO_KEY


class OpenAISampler:
    """Samples from a served model. `model` is the name the server knows it by (see GET /v1/models)."""

    def __init__(self, model: str, server: ServerSection, show_progress: bool = True) -> None:
        self.model, self.server, self.show_progress = model, server, show_progress
        self.base_url = resolve_base_url(server)
        self.send_stop = True  # until the server fails on stop strings

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        n = 1 if params.greedy else params.n
        with progress_bar("sampling (server)", total=len(prompts) * n, enabled=self.show_progress) as advance:
            return asyncio.run(self.sample_all(prompts, params, n, advance))

    async def sample_all(self, prompts: list[Prompt], params: SamplingParams, n: int,
                         advance: Any) -> list[list[Completion]]:
        """Every prompt as its own task, `concurrency` at a time; the first failure (or a cancellation by
        Ctrl-C) cancels the rest, which closes their connections."""
        results: list[list[Completion]] = [[] for _ in prompts]
        slots = asyncio.Semaphore(self.server.concurrency)
        async with openai.AsyncOpenAI(base_url=self.base_url, api_key=resolve_api_key(self.server),
                                      max_retries=self.server.max_retries, timeout=self.server.timeout_s) as client:

            async def one(i: int, prompt: Prompt) -> tuple[int, list[Completion]]:
                async with slots:
                    return i, await self.sample_prompt(client, prompt, params, n, params.seed + SEED_STRIDE * i)

            tasks = [asyncio.create_task(one(i, p)) for i, p in enumerate(prompts)]
            try:
                for next_done in asyncio.as_completed(tasks):
                    i, completions = await next_done
                    results[i] = completions
                    advance(n)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return results

    async def sample_prompt(self, client: openai.AsyncOpenAI, prompt: Prompt, params: SamplingParams, n: int,
                            seed: int) -> list[Completion]:
        """`n` completions of one prompt, topping up when the server returns fewer choices than asked."""
        out: list[Completion] = []
        while len(out) < n:
            got = await self.request(client, prompt, params, n - len(out), seed + len(out))
            if not got:
                raise UserError(f"{self.base_url} returned no choices for model {self.model!r}")
            out += got
        return out[:n]

    async def request(self, client: openai.AsyncOpenAI, prompt: Prompt, params: SamplingParams, n: int,
                      seed: int) -> list[Completion]:
        """One API call: chat endpoint for message lists, completions endpoint for text. The body is read and
        checked here (not by the client's models), so a malformed answer is named instead of crashing."""
        kwargs = self.request_args(params, n, seed)
        chat = isinstance(prompt, list)
        try:
            if chat:
                logprobs = {"logprobs": True} if self.server.logprobs else {}
                raw = await client.chat.completions.with_raw_response.create(messages=prompt, **logprobs, **kwargs)
            else:
                logprobs = {"logprobs": 1} if self.server.logprobs else {}
                raw = await client.completions.with_raw_response.create(prompt=prompt, **logprobs, **kwargs)
        except openai.InternalServerError as e:
            if "stop" not in kwargs:
                raise explain_error(e, self.base_url, self.model, self.server) from None
            self.send_stop = False  # the stop strings are cut here anyway
            return await self.request(client, prompt, params, n, seed)
        except openai.APIError as e:
            raise explain_error(e, self.base_url, self.model, self.server) from None
        body = raw.http_response.text
        try:
            texts, token_lps, used = parse_body(body, chat)
        except ValueError as e:
            raise UserError(f"{self.base_url} sent a malformed response for model {self.model!r}: {e}; it began "
                            f"{body[:120]!r}. Is this an OpenAI-compatible server, and does the URL end in /v1?") \
                from None
        return to_completions(texts, token_lps, used, params.stop)

    def request_args(self, params: SamplingParams, n: int, seed: int) -> dict[str, Any]:
        """Arguments shared by both endpoints; optional ones are sent only when they differ from the default,
        so servers that reject a field still serve the common case."""
        args: dict[str, Any] = {"model": self.model, "max_tokens": params.max_new_tokens,
                                "temperature": 0.0 if params.greedy else params.temperature, "seed": seed}
        if n > 1:
            args["n"] = n
        if params.top_p < 1.0 and not params.greedy:
            args["top_p"] = params.top_p
        if params.stop and self.send_stop:
            args["stop"] = list(params.stop)
        if self.server.extra_body:
            args["extra_body"] = dict(self.server.extra_body)
        return args


def parse_body(body: str, chat: bool) -> tuple[list[str], list[list[float | None] | None], int]:
    """(texts, per-token logprobs or None, completion tokens used) of a completions or chat completions body;
    a ValueError saying what is wrong when it is not the JSON the OpenAI API specifies."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise ValueError("no `choices` list")
    texts, token_lps = [], []
    for choice in choices:
        text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
        if chat and text is None:
            text = ""  # a chat message may legitimately have no content (e.g. only a refusal)
        if not isinstance(text, str):
            raise ValueError(f"a choice's {'message content' if chat else '`text`'} is {text!r}, not a string")
        texts.append(text)
        token_lps.append(choice_logprobs(choice.get("logprobs"), chat))
    usage = data.get("usage")
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return texts, token_lps, used if isinstance(used, int) else 0


def choice_logprobs(logprobs: Any, chat: bool) -> list[float | None] | None:
    """Per-token logprobs of a choice (chat: `logprobs.content[].logprob`; completions:
    `logprobs.token_logprobs`), or None when the server sent none."""
    if not isinstance(logprobs, dict):
        return None
    values = [t.get("logprob") for t in logprobs.get("content") or [] if isinstance(t, dict)] if chat \
        else logprobs.get("token_logprobs")
    if not values or not isinstance(values, list):
        return None
    return [float(v) if isinstance(v, (int, float)) else None for v in values]


def to_completions(texts: list[str], token_lps: list[list[float | None] | None], used: int,
                   stop: tuple[str, ...]) -> list[Completion]:
    """Completions with token counts and logprobs from the server's logprobs, else from its usage."""
    total_chars = sum(len(t) for t in texts) or 1
    out = []
    for text, lps in zip(texts, token_lps):
        if lps is not None:
            num_tokens, logprob = len(lps), float(sum(lp for lp in lps if lp is not None))
        else:  # exact when there is one choice; a share of the total by text length otherwise
            num_tokens = used if len(texts) == 1 else round(used * len(text) / total_chars)
            logprob = None
        for s in stop:
            text = text.split(s, 1)[0]
        out.append(Completion(text=text, num_tokens=num_tokens, logprob=logprob))
    return out


def explain_error(error: openai.APIError, base_url: str, model: str, server: ServerSection) -> UserError:
    """One line saying what failed and what to do about it (the API key itself is never included)."""
    if isinstance(error, openai.APITimeoutError):
        return UserError(f"{base_url} did not answer within {server.timeout_s:g} s ({server.max_retries} retries); "
                         "raise model.server.timeout_s or lower model.server.concurrency")
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return UserError(f"cannot connect to {base_url} ({type(cause).__name__}: {cause}); is the server running, "
                         "and does the URL end in /v1?")
    status = getattr(error, "status_code", None)
    detail = server_said(error)
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return UserError(f"{base_url} refused the API key (HTTP {status}): set ${server.api_key_env} "
                         f"(or ${FALLBACK_KEY_ENV}) to a valid key; the server said: {detail}")
    if isinstance(error, openai.NotFoundError):
        return UserError(f"{base_url} answered 404 for model {model!r}: check the served model name (--model) and "
                         f"that the URL ends in /v1; the server said: {detail}")
    if isinstance(error, openai.RateLimitError):
        return UserError(f"{base_url} is still rate limiting after {server.max_retries} retries: lower "
                         f"model.server.concurrency; the server said: {detail}")
    if isinstance(error, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return UserError(f"{base_url} rejected the request (HTTP {status}): {detail}")
    return UserError(f"{base_url} failed (HTTP {status}) after {server.max_retries} retries: {detail}")


def server_said(error: openai.APIError) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, FastAPI's {"detail"} (vLLM,
    transformers serve), a plain {"message"}, else the response text or the client's message."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")
        found = inner.get("message") if isinstance(inner, dict) else inner
        found = found or body.get("detail") or body.get("message")
        if found:
            return str(found)
    response = getattr(error, "response", None)
    text = response.text.strip() if response is not None else ""
    return text[:500] or error.message
