"""Build the collapse configs from plain values, turning validation errors into `UserError`s (the CLI
shows those as one clear message, not a traceback)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from selfimprove.config import explain
from selfimprove.errors import UserError

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def build_config(cls: type[ConfigT], values: Mapping[str, Any] | None = None) -> ConfigT:
    """Validate `values` into `cls`; unknown keys and bad values raise `UserError` naming each key."""
    try:
        return cls.model_validate(dict(values or {}))
    except ValidationError as err:
        raise UserError(explain(cls, err, f"the {cls.__name__} values")) from None
