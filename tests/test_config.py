"""Typed config: YAML + dotted overrides, and errors that name the key and suggest the valid one."""

from __future__ import annotations

import pytest

from selfimprove.commands.eval import EvalConfig
from selfimprove.config import apply_override, load_config
from selfimprove.errors import UserError


def test_yaml_then_overrides_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {path: m}\nsampling: {temperature: 0.5, n: 4}\n")
    cfg = load_config(EvalConfig, path, ["sampling.temperature=0.7", "eval.splits=[test]", "task.options.seed=3"])
    assert cfg.sampling.temperature == 0.7 and cfg.sampling.n == 4
    assert cfg.eval.splits == ["test"] and cfg.task.options == {"seed": 3}


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(UserError, match=r"unknown key 'sampling.temprature'; did you mean 'sampling.temperature'"):
        load_config(EvalConfig, None, ["model.path=m", "sampling.temprature=0.7"])
    with pytest.raises(UserError, match=r"did you mean 'sampling'"):
        load_config(EvalConfig, None, ["model.path=m", "samplin.n=2"])


def test_wrong_type_names_key():
    with pytest.raises(UserError, match=r"sampling.n: .*integer.*'many'"):
        load_config(EvalConfig, None, ["model.path=m", "sampling.n=many"])
    with pytest.raises(UserError, match=r"model: Field required"):
        load_config(EvalConfig, None, [])


def test_malformed_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {path: m\nsampling: [\n")
    with pytest.raises(UserError, match=r"malformed YAML at line"):
        load_config(EvalConfig, bad)
    with pytest.raises(UserError, match="config file not found"):
        load_config(EvalConfig, tmp_path / "nope.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(EvalConfig, scalar)


def test_invalid_override_forms():
    with pytest.raises(UserError, match="key=value"):
        apply_override({}, "=3")
    data = {"a": 1}
    with pytest.raises(UserError, match="is a value, not a section"):
        apply_override(data, "a.b=2")
    data = {}
    apply_override(data, "x.y.z=[1, 2]")
    assert data == {"x": {"y": {"z": [1, 2]}}}
