"""Typed configuration: YAML sets the values, `dotted.key=value` overrides from the command line win.

Every section is a pydantic model that forbids unknown keys; every field has help text. Errors name the
key and suggest the closest valid one, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from selfimprove.errors import UserError

C = TypeVar("C", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file, or a UserError saying what is wrong with it."""
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise UserError(f"{path}: malformed YAML{at}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of keys to values, not {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML (numbers, lists, booleans)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise UserError(f"invalid override {override!r}: write it as key=value, e.g. sampling.temperature=0.7")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"invalid override {override!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields valid at the parent of `loc` (for 'did you mean' suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def explain(model: type[BaseModel], error: ValidationError, source: str) -> str:
    """One readable line per validation problem, naming the key."""
    lines = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, err["loc"])
            match = difflib.get_close_matches(str(err["loc"][-1]), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {'.'.join([*map(str, err['loc'][:-1]), match[0]])!r}?" if match else ""
            lines.append(f"unknown key {key!r}{hint} (valid here: {', '.join(valid)})")
        else:
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
            lines.append(f"{key}: {msg}{got}" if key else msg)
    return f"invalid configuration in {source}:\n  " + "\n  ".join(lines)


def read_values(path: Path | None = None, overrides: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """The values of an optional YAML file with command-line overrides applied, and where they came from
    (for error messages)."""
    data = read_yaml(path) if path is not None else {}
    for override in overrides or []:
        apply_override(data, override)
    source = f"{path}" if path else "the command line"
    return data, source + (" and overrides" if path and overrides else "")


def load_config(model: type[C], path: Path | None = None, overrides: list[str] | None = None) -> C:
    """Build a config of type `model` from an optional YAML file and command-line overrides."""
    data, source = read_values(path, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(explain(model, e, source)) from None


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML (what a run directory stores and a resumed run compares against)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
