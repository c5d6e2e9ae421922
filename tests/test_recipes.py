"""Recipes and training methods by name: `selfimprove run` picks the recipe from the config, an unknown recipe
or training method is one clear error, moved config keys are still read, and `selfimprove ls` lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selfimprove.errors import UserError
from selfimprove.recipes import RECIPES, get_recipe, load_run_config
from selfimprove.recipes.collapse_config import CollapseConfig
from selfimprove.recipes.config import IterativeConfig
from selfimprove.rundir import open_run
from selfimprove.train.registry import TRAINERS, fit_rows

from test_cli_inputs import assert_refused


def write(folder: Path, data: dict) -> Path:
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_recipe_key_picks_the_config_class(tmp_path: Path) -> None:
    base = {"model": {"path": "m"}}
    assert type(load_run_config(write(tmp_path, base))) is IterativeConfig  # no recipe key: iterative
    assert type(load_run_config(write(tmp_path, {**base, "recipe": "collapse"}))) is CollapseConfig
    with pytest.raises(UserError, match="unknown recipe 'ppo'; known: iterative, collapse, stop, self-rewarding, score"):
        load_run_config(write(tmp_path, {**base, "recipe": "ppo"}))
    with pytest.raises(UserError, match="the loop section belongs to recipe iterative"):
        load_run_config(write(tmp_path, {**base, "recipe": "collapse", "loop": {"strategy": "sft"}}))


def test_every_recipe_names_a_config_class_and_a_run_function() -> None:
    from pkgutil import resolve_name

    for recipe in RECIPES.values():
        cls = resolve_name(recipe.config)
        assert cls.model_fields["recipe"].default == recipe.name and callable(resolve_name(recipe.run))
    assert get_recipe("iterative").strategies == ("sft", "star", "dpo", "sft-dpo", "grpo", "gold")


def test_dpo_settings_moved_into_their_section(tmp_path: Path) -> None:
    base = {"model": {"path": "m"}}
    old = load_run_config(write(tmp_path, {**base, "train": {"dpo_beta": 0.3, "dpo_learning_rate": 1e-5}}))
    new = load_run_config(write(tmp_path, {**base, "train": {"dpo": {"beta": 0.3, "learning_rate": 1e-5}}}))
    assert old == new and new.train.dpo.beta == 0.3
    with pytest.raises(UserError, match="train.dpo_beta moved to train.dpo.beta"):
        load_run_config(write(tmp_path, {**base, "train": {"dpo_beta": 0.3, "dpo": {"beta": 0.2}}}))


def test_a_run_started_before_recipes_resumes(tmp_path: Path) -> None:
    """A run directory whose config.yaml has no `recipe`, the old DPO keys and `collapse: null` resumes with the
    same config."""
    cfg = IterativeConfig.model_validate({"name": "r", "out": str(tmp_path), "model": {"path": "m"}})
    stored = cfg.model_dump(mode="json")
    del stored["recipe"]
    dpo = stored["train"].pop("dpo")
    stored["train"].update(dpo_beta=dpo["beta"], dpo_learning_rate=dpo["learning_rate"])
    stored["collapse"] = None  # the section every run config had then
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.yaml").write_text(yaml.safe_dump(stored), encoding="utf-8")
    run, _ = open_run(cfg)
    run.unlock()
    with pytest.raises(UserError, match="differing keys:\n    train.dpo.beta: 0.1 -> 0.2"):
        open_run(cfg.model_copy(update={"train": cfg.train.model_copy(update={"dpo": {"beta": 0.2}})}))


def test_an_unknown_training_method_is_an_error_not_a_fallback() -> None:
    with pytest.raises(UserError, match="unknown training method 'ppo'; known: sft, dpo, grpo, causal-lm"):
        fit_rows("ppo", None, None, [{"prompt": "p"}], None, Path("."), chat=False)  # type: ignore[arg-type]
    assert set(TRAINERS) == {"sft", "dpo", "grpo", "causal-lm"}


def test_ls_lists_recipes_with_their_strategies() -> None:
    from typer.testing import CliRunner

    from selfimprove.cli import app

    result = CliRunner().invoke(app, ["ls"], env={"COLUMNS": "300"})
    out = result.stdout
    assert result.exit_code == 0 and "sft, star, dpo, sft-dpo, grpo, gold" in out, out
    assert all(name in out for name in [*RECIPES, *TRAINERS]), out


def test_a_bad_recipe_is_one_line_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"model": {"path": "m"}, "recipe": "ppo"})
    assert_refused(capsys, ["run", str(path)], "unknown recipe 'ppo'")
    old = write(tmp_path, {"model": {"path": "m"}, "recipe": "iterative", "loop": {"strategy": "collapse"}})
    assert_refused(capsys, ["run", str(old)], "recipe: collapse")


def test_grpo_step_log_is_written_by_the_main_process_only(tmp_path: Path) -> None:
    """Under `accelerate launch` every process gets on_log; one line per logged step, from process 0."""
    from transformers import TrainerState

    from selfimprove.train.grpo import StepLog

    log = StepLog(tmp_path / "steps.jsonl")
    logs = {"loss": 0.1, "reward": 0.5, "kl": 0.01, "unrelated": 3}
    for rank in (0, 1):
        state = TrainerState(global_step=4, is_world_process_zero=rank == 0, is_local_process_zero=rank == 0)
        log.on_log(None, state, None, logs=logs)
    log.on_log(None, TrainerState(global_step=5), None, logs={"loss": 0.2})  # no reward: not a GRPO step row
    assert (tmp_path / "steps.jsonl").read_text().splitlines() == ['{"step": 4, "loss": 0.1, "reward": 0.5, "kl": 0.01}']
