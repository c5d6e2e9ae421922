"""Programs as text: they run only in the sandbox (read with `read_program`), never imported. seed_improver.py
is the paper's seed improver; scaffold_<kind>.py are the scaffold language's templates (selfimprove.stop.scaffold):
one per downstream task and the scaffold improver, each at its seed settings."""

from __future__ import annotations

from importlib import resources


def read_program(name: str) -> str:
    """The source of the program file `name` in this folder."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
