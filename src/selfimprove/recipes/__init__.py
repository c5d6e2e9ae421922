"""Recipes: one file each that drives one kind of run from top to bottom, registered here by name.

`selfimprove run CONFIG` reads the config's `recipe` key (default `iterative`), validates the file with that
recipe's config class and calls its run function. Config classes and run functions are named by dotted path
and imported only when used, so listing recipes imports no torch.
Adding a recipe = recipes/<name>.py (its `run`), recipes/<name>_config.py (its config class) and one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pkgutil import resolve_name
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selfimprove.config import explain, read_values
from selfimprove.errors import UserError


@dataclass(frozen=True)
class Recipe:
    """A kind of run: `config` is the dotted path ('module:Class') of its pydantic config class, `run` the
    dotted path of `run(cfg, run_dir: RunDir) -> list[dict]` (the metrics of each iteration), `strategies`
    the values its config accepts for loop.strategy. `check` (optional) is the dotted path of
    `check(cfg) -> None`, run before the run directory is created; `verdict`: whether the run-level verdict
    applies to what `run` returns."""

    name: str
    about: str
    config: str
    run: str
    strategies: tuple[str, ...] = ()
    check: str | None = None
    verdict: bool = True


RECIPES: dict[str, Recipe] = {
    "iterative": Recipe(
        "iterative", "the self-improvement loop: sample, verify, curate, train, evaluate for T iterations "
                     "(Wu et al. 2024; STaR; ReST-EM; iterative DPO)",
        "selfimprove.recipes.config:IterativeConfig", "selfimprove.recipes.iterative:run_loop",
        ("sft", "star", "dpo", "sft-dpo", "grpo", "gold"), check="selfimprove.recipes.iterative:check_run",
    ),
    "collapse": Recipe(
        "collapse", "model collapse (Shumailov et al. 2024): each generation is the starting model trained on the "
                    "previous generation's continuations of the real corpus, unverified, in arms (section collapse)",
        "selfimprove.recipes.collapse_config:CollapseConfig", "selfimprove.recipes.collapse:run_collapse",
        verdict=False,
    ),
    "stop": Recipe(
        "stop", "STOP (Zelikman et al. 2024): an improver program that calls the model improves itself under a "
                "meta-utility for T rounds, all code in the sandbox, tamper attempts recorded (section stop)",
        "selfimprove.recipes.stop_config:StopConfig", "selfimprove.recipes.stop:run", verdict=False,
        check="selfimprove.recipes.stop:check_run",
    ),
    "self-rewarding": Recipe(
        "self-rewarding", "self-rewarding language models (Yuan et al. 2024): self-instruct, self-judge, DPO on "
                          "best-vs-worst pairs, with the judge measured against ground truth",
        "selfimprove.recipes.self_rewarding_config:SelfRewardingConfig",
        "selfimprove.recipes.self_rewarding:run_self_rewarding", check="selfimprove.recipes.self_rewarding:check_run",
    ),
    "score": Recipe(
        "score", "two-attempt self-correction trained by multi-turn RL (SCoRe, Kumar et al. 2024): Stage I, Stage II "
                 "and the baselines self-refine, single-turn RL, STaR, Pair-SFT, evaluated alike (section score)",
        "selfimprove.recipes.score_config:ScoreConfig", "selfimprove.recipes.score:run_score",
        check="selfimprove.recipes.score:check_run", verdict=False,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]



def recipe_of(data: dict[str, Any]) -> str:
    """The recipe a config's values ask for: `recipe`, else collapse for configs written when collapse was
    `loop.strategy: collapse`, else iterative."""
    if "recipe" in data:
        return str(data["recipe"])
    loop = data.get("loop")
    return "collapse" if isinstance(loop, dict) and loop.get("strategy") == "collapse" else "iterative"


def run_config(data: dict[str, Any], source: str) -> Any:
    """The values validated into their recipe's config class; problems become one UserError naming each key."""
    cls = resolve_name(get_recipe(recipe_of(data)).config)
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise UserError(explain(cls, e, source)) from None


def load_run_config(path: Path | None, overrides: list[str] | None = None) -> Any:
    """The run config of a YAML file and command-line overrides, validated by its recipe's config class."""
    return run_config(*read_values(path, overrides))
