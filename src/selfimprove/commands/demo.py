"""`selfimprove demo`: the embedded demo, with nothing to download.

It pretrains the tiny seed model on the arith `seed` split if it is not there yet (selfimprove.tiny,
about 3 minutes on 2 CPU cores), then runs 3 iterations of iterative SFT on arith (Wu et al. 2024's
setting: continue from M_{t-1}, sample at temperature 0.75, top-p 0.95), evaluating greedy pass@1,
pass@k and diversity on `test` and `ood` after each iteration, and says where the report is. Sizes are
chosen to finish in under 10 minutes on 2 CPU cores; configs/demo.yaml holds the same settings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rich.console import Console

from selfimprove.commands.run import run
from selfimprove.config import apply_override, read_yaml
from selfimprove.recipes import run_config
from selfimprove.recipes.config import BaseRunConfig

DEMO: dict[str, Any] = {
    "name": "demo",
    "out": "runs",
    "seed": 0,
    "task": {"name": "arith"},
    "model": {"path": "runs/tiny-arith"},
    "sampling": {"n": 4, "temperature": 0.75, "top_p": 0.95, "max_new_tokens": 80, "batch_size": 128},
    "eval": {"splits": ["test", "ood"], "limit": 200, "k": 4, "semantic": True},
    "train": {"learning_rate": 3e-4, "epochs": 2.0, "batch_size": 32, "warmup_ratio": 0.05, "logging_steps": 10},
    "loop": {"strategy": "sft", "iterations": 3, "improve_limit": 400, "max_per_problem": 4, "dedupe": True},
}


def demo_config(path: Path | None = None, overrides: list[str] | None = None) -> BaseRunConfig:
    """The demo's run config: the built-in settings (or a YAML file), then command-line overrides."""
    data = read_yaml(path) if path is not None else copy.deepcopy(DEMO)
    for override in overrides or []:
        apply_override(data, override)
    return run_config(data, str(path) if path else "the demo settings and overrides")


def ensure_seed_model(path: str) -> None:
    """Pretrain the tiny seed model into `path` unless a checkpoint is already there."""
    if (Path(path) / "config.json").is_file():
        return
    from selfimprove.tiny.pretrain import PretrainConfig, pretrain

    Console().print(f"no seed model at {path}: pretraining the tiny model on arith `seed` (about 3 minutes)")
    out, seconds = pretrain(PretrainConfig(out=path))
    Console().print(f"seed model saved to {out} (trained for {seconds:.0f} s)")


def run_demo(cfg: BaseRunConfig, fresh: bool = False) -> Path:
    """Pretrain if needed, then run (or resume) the demo; returns the run directory."""
    ensure_seed_model(cfg.model.path)
    return run(cfg, fresh=fresh)
