"""The tiny seed model: a standard HF Llama of about a million parameters (4 layers, width 128), built from a
typed config."""

from __future__ import annotations

from pydantic import Field
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from selfimprove.config import Section


class TinyModelSection(Section):
    hidden_size: int = Field(128, ge=16, description="Width of the residual stream.")
    layers: int = Field(4, ge=1, description="Number of transformer blocks.")
    heads: int = Field(4, ge=1, description="Attention heads (hidden_size must divide evenly).")
    intermediate_size: int = Field(512, ge=16, description="Width of the MLP.")
    max_positions: int = Field(1024, ge=64, description="Longest sequence (prompt + completion) in tokens.")


def build_model(tokenizer: PreTrainedTokenizerBase, cfg: TinyModelSection, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised Llama sized by `cfg`, with the tokenizer's special token ids."""
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
