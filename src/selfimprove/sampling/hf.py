"""The local sampler: any HF causal LM, batched, seeded, with a progress bar."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from selfimprove.errors import UserError
from selfimprove.models import resolve_model_path
from selfimprove.progress import progress_bar
from selfimprove.sampling.buffers import Buffers
from selfimprove.sampling.decode import decode_batch
from selfimprove.sampling.packed import packed_linears
from selfimprove.types import Completion, Prompt, SamplingParams, Scored


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but no CUDA device is available; use device=cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        on_bf16_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if on_bf16_gpu else torch.float32
    return getattr(torch, dtype)


def load_model(path: str, dtype: str = "auto", device: str = "auto") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a local HF checkpoint directory, a hub id (when online) or a preset name
    (models.py, materialized into the local cache on first use)."""
    dev = resolve_device(device)
    path = resolve_model_path(path)
    local = Path(path)
    if local.exists():
        check_checkpoint(local)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, dev))
    except OSError as e:
        if local.exists():
            raise UserError(f"cannot load the checkpoint {path} ({e}); save or copy it again") from None
        raise UserError(f"cannot load model {path!r}: not a local checkpoint and not downloadable ({e})") from None
    except (SafetensorError, ValueError, RuntimeError) as e:  # truncated or corrupt weights
        raise UserError(f"cannot read the weights of {path} ({type(e).__name__}: {str(e)[:200]}); the checkpoint "
                        "may be truncated: save or copy it again") from None
    model.to(dev).eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


def check_checkpoint(folder: Path) -> None:
    """A local checkpoint needs config.json, weights and a tokenizer; say which is missing before loading."""
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise UserError(f"{folder} exists but is not a HF checkpoint (no config.json); pass a model directory")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"{folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); save the tokenizer "
                        "with the model (tokenizer.save_pretrained)")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")) and not any(folder.glob("*.gguf")):
        raise UserError(f"{folder} has no weights (*.safetensors or *.bin); save or copy the model again")


class HFSampler:
    """Samples from a local HF model. Prompts sharing a batch are sorted by length to limit padding; the
    same (prompts, params, batch_size) always gives the same completions."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64,
                 show_progress: bool = True) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.show_progress = batch_size, show_progress
        self._token_texts: list[str] | None = None  # decoded vocabulary, built once for stop strings

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a prompt; chat messages go through the tokenizer's chat template."""
        if isinstance(prompt, list):
            if not getattr(self.tokenizer, "chat_template", None):
                raise UserError("chat-style prompt given, but the tokenizer has no chat template; use a text prompt")
            text = self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(prompt)["input_ids"]

    def stop_token_ids(self, stop: tuple[str, ...]) -> set[int]:
        """EOS ids plus every single token whose text contains a stop string (to end rows early)."""
        eos = self.model.generation_config.eos_token_id or self.tokenizer.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos])
        if stop:
            ids |= {i for i, t in enumerate(self.token_texts()) if any(s in t for s in stop)}
        return ids

    def token_texts(self) -> list[str]:
        """The text of every token id, decoded once per sampler (a large vocabulary takes a while)."""
        if self._token_texts is None:
            vocab = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._token_texts = [self.tokenizer.convert_tokens_to_string([t]) if t else "" for t in vocab]
        return self._token_texts

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        n = 1 if params.greedy else params.n
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        per_batch = max(1, self.batch_size // n)
        stop_ids = self.stop_token_ids(params.stop)
        results: list[list[Completion]] = [[] for _ in prompts]
        generator = torch.Generator(device=self.model.device).manual_seed(params.seed)
        buffers = Buffers()  # the batches' KV caches reuse one set of memory, freed when the call returns
        with (packed_linears(self.model, self.batch_size),
              progress_bar("sampling", total=len(prompts) * n, enabled=self.show_progress) as advance):
            for start in range(0, len(order), per_batch):
                chunk = order[start:start + per_batch]
                rows = decode_batch(self.model, [encoded[i] for i in chunk], n, params, stop_ids,
                                    self.tokenizer.pad_token_id, generator, buffers)
                for j, i in enumerate(chunk):
                    results[i] = [self._completion(r.tokens, r.logprob, params) for r in rows[j * n:(j + 1) * n]]
                advance(len(chunk) * n)
        return results

    def perplexities(self, prompts: list[Prompt], texts: list[str], batch_size: int = 32) -> list[Scored | None]:
        """Each text's perplexity as the model's answer to its prompt (types.Scorer): the prompt encoded as
        `sample` encodes it, then the text (after one space for a text prompt, as the tasks' completions
        start; as the assistant's turn for chat messages), scoring the text's tokens only. None for a pair
        longer than the model's context or a text without tokens."""
        from selfimprove.sampling.perplexity import block_perplexities

        limit = getattr(self.model.config, "max_position_embeddings", None)
        blocks, starts, where = [], [], []
        for i, (prompt, text) in enumerate(zip(prompts, texts)):
            prompt_ids = self.encode(prompt)
            text = f" {text.strip()}" if isinstance(prompt, str) else text.strip()
            text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = [*prompt_ids, *text_ids]
            if text_ids and prompt_ids and (limit is None or len(ids) <= limit):
                blocks.append(ids)
                starts.append(len(prompt_ids))
                where.append(i)
        scores: list[Scored | None] = [None] * len(prompts)
        if blocks:
            ppl = block_perplexities(self.model, blocks, batch_size, show_progress=self.show_progress,
                                     score_from=starts)
            for i, block, start, value in zip(where, blocks, starts, ppl):
                scores[i] = Scored(float(value), len(block) - start)
        return scores

    def _completion(self, tokens: list[int], logprob: float, params: SamplingParams) -> Completion:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for s in params.stop:
            text = text.split(s, 1)[0]
        return Completion(text=text, num_tokens=len(tokens), logprob=logprob)
