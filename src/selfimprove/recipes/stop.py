"""The `stop` recipe (Zelikman et al. 2024, "Self-Taught Optimizer"): the language model is never trained;
an improver program that calls it improves itself under a meta-utility for `stop.rounds` rounds, every
program running in the code sandbox (selfimprove.stop: tasks, channel, meta-utility, tamper detection).
Its model is any sampler (model.backend hf or openai); sampling.max_new_tokens and top_p shape the
model's answers, and the improver sets its own temperature (the paper's 0.7). With stop.language scaffold
the model is the tiny proposer at model.path, trained there before the run starts when missing
(`check_run`; selfimprove.stop.proposer)."""

from __future__ import annotations

from typing import Any

from selfimprove.recipes.stop_config import StopConfig
from selfimprove.rundir import RunDir
from selfimprove.sandbox import SandboxConfig
from selfimprove.stop.channel import Model
from selfimprove.types import Sampler


def run(cfg: StopConfig, run_dir: RunDir) -> list[dict[str, Any]]:
    """Run or resume the rounds; write report.md and print it (stdout); one metrics row per improver version."""
    from selfimprove.jsonl import write_atomic
    from selfimprove.stop.report import stop_markdown
    from selfimprove.stop.rounds import run_stop

    loaded: list[Sampler] = []  # loaded by the first stage that calls the model, then shared

    def make_model(stage: int) -> Model:
        """The model for one stage: its own sampling seeds, the same however the run was interrupted."""
        from selfimprove.recipes.stages import Models
        from selfimprove.stop.model import sampler_model

        if not loaded:
            loaded.append(Models(cfg.model, cfg.sampling.batch_size).sampler(cfg.model.path))
        return sampler_model(loaded[0], cfg.sampling.max_new_tokens, cfg.sampling.top_p, cfg.seed * 1000 + stage)

    sandbox = SandboxConfig(timeout=cfg.stop.timeout)
    history = run_stop(cfg.stop, make_model, sandbox, cfg.seed, run_dir)
    text = stop_markdown(history, proposer(cfg))
    write_atomic(run_dir.root / "report.md", text)
    print(text)
    return history


def proposer(cfg: StopConfig) -> dict[str, Any] | None:
    """With stop.language scaffold and a local model: the tiny proposer at model.path, trained there first
    when missing; its training record (proposer.json), if any."""
    if cfg.stop.language != "scaffold" or cfg.model.backend != "hf":
        return None
    from selfimprove.stop.proposer import ensure_proposer

    return ensure_proposer(cfg.model.path, cfg.stop.proposer, SandboxConfig(timeout=cfg.stop.timeout), cfg.seed)


def check_run(cfg: StopConfig) -> None:
    """Before the run directory exists: train the scaffold proposer when it is missing, so the run records
    (and on resuming, compares) the trained proposer as its starting model."""
    proposer(cfg)
