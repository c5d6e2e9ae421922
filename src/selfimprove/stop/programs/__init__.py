"""Improver programs as text: they run only in the sandbox (read with `read_program`), never imported."""

from __future__ import annotations

from importlib import resources


def read_program(name: str) -> str:
    """The source of the program file `name` in this folder."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
