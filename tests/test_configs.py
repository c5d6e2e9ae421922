"""Every shipped config (configs/*.yaml) names the command that runs it and validates as that command's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from selfimprove.config import load_config, read_yaml
from selfimprove.recipes import run_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def config_class(command: str) -> type[BaseModel] | None:
    """The config class of a `selfimprove <command>` line, or None for a command this test does not know."""
    words = command.split()
    name = words[1] if len(words) > 1 and words[0] == "selfimprove" else None
    if name in ("run", "demo"):
        from selfimprove.recipes import run_config

        return run_config  # type: ignore[return-value]
    if name == "pretrain":
        from selfimprove.tiny.pretrain import PretrainConfig

        return PretrainConfig
    if name == "eval":
        from selfimprove.commands.eval import EvalConfig

        return EvalConfig
    return None


def test_configs_are_shipped() -> None:
    names = {p.name for p in CONFIGS}
    assert {"arith-sft.yaml", "arith-dpo.yaml", "arith-sft-dpo.yaml", "arith-star.yaml", "demo.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# selfimprove "), f"{path.name} must begin with the command that runs it"
    cls = config_class(first.lstrip("# "))
    if cls is None:
        pytest.skip(f"no config class known for {first!r}")
    cfg = run_config(read_yaml(path), str(path)) if cls is run_config else load_config(cls, path)
    if path.name.startswith("arith-") and cls is run_config:
        assert cfg.task.name == "arith" and path.name == f"{cfg.name}.yaml"
        kind = cfg.loop.strategy if cfg.recipe == "iterative" else cfg.recipe
        assert kind == path.stem.removeprefix("arith-")


def test_demo_yaml_matches_the_built_in_demo() -> None:
    from selfimprove.commands.demo import demo_config

    shipped = [p for p in CONFIGS if p.name == "demo.yaml"][0]
    assert load_config(type(demo_config()), shipped) == demo_config()
