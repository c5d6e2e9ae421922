"""The `stop` section of a STOP run's config (Zelikman et al. 2024; defaults are the paper's budgets).
No torch import: configs load before any model."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from selfimprove.config import Section
from selfimprove.errors import UserError
from selfimprove.stop.proposer import ProposerSection


class StopSection(Section):
    language: Literal["python", "scaffold"] = Field(
        "python", description="What the model writes. python = whole programs (the paper's setting; needs a "
        "strong code model). scaffold = one settings line per program (selfimprove.stop.scaffold): seed "
        "solutions and the seed improver are scaffold templates, model.path is the tiny proposer (trained "
        "there when missing, see `proposer`), and each version is also evaluated with a random-line proposer "
        "as the control.")
    improver: str | None = Field(
        None, description="Seed improver file (Python defining improve_algorithm(initial_solution, utility, "
        "language_model)); unset = the built-in seed improver (selfimprove/stop/programs/seed_improver.py, or "
        "scaffold_improver.py when language is scaffold)."
    )
    proposer: ProposerSection = Field(default_factory=ProposerSection,
                                      description="The tiny proposer's training (language: scaffold only); a "
                                      "proposer already at model.path must have been trained with these.")
    tasks: list[str] = Field(["lpn"], min_length=1, description="Tasks the meta-utility averages over: the ones "
                             "the improver is improved on (the paper: LPN). Names: lpn, three_sat, max_cut, grid_dist.")
    transfer_tasks: list[str] = Field(
        ["three_sat", "max_cut", "grid_dist"], description="Tasks each improver version is also evaluated on, "
        "never improved on (transfer)."
    )
    rounds: int = Field(3, ge=0, description="Rounds T of self-improvement: improver t+1 = improver t run on its "
                        "own source under the meta-utility.")
    runs: int = Field(5, ge=1, description="Runs the meta-utility averages over per task (the paper: 5).")
    lm_calls: int = Field(4, ge=0, description="Language-model calls per improver run (the paper: 4).")
    responses_per_call: int = Field(6, ge=1, description="Most responses (messages) per call (the paper: 6).")
    utility_budget: int = Field(25, ge=0, description="Utility calls per improver run (the paper's meta-utility "
                                "budget: 25); calls over it are refused and recorded as tamper events.")
    val_instances: int = Field(20, ge=1, description="Instances in each task's validation half, which the "
                               "improver's utility scores (the paper: 20).")
    test_instances: int = Field(50, ge=1, description="Instances in each task's hidden test half, scored only "
                                "by the harness (the paper: 50).")
    timeout: float = Field(10.0, gt=0, le=60, description="Wall-clock seconds of one sandboxed improver run "
                           "(between two calls to the host).")

    @field_validator("improver")
    @classmethod
    def _defines_improve_algorithm(cls, path: str | None) -> str | None:
        try:
            read_improver(path)
        except UserError as e:
            raise ValueError(str(e)) from None
        return path

    @field_validator("tasks", "transfer_tasks")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from selfimprove.stop.tasks import task_names

        unknown = [n for n in names if n not in task_names()]
        if unknown:
            raise ValueError(f"unknown STOP task(s) {unknown}; known: {', '.join(task_names())}")
        return names


def read_improver(path: str | None, language: str = "python") -> str:
    """The seed improver's source: the built-in one of the language, or a file that must parse and define
    improve_algorithm (a UserError saying what to fix otherwise)."""
    from selfimprove.stop.programs import read_program

    if path is None:
        return read_program("scaffold_improver.py" if language == "scaffold" else "seed_improver.py")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"file not found: {path}")
    source = file.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise UserError(f"{path} is not valid Python (line {e.lineno}: {e.msg})") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == "improve_algorithm" for n in tree.body):
        raise UserError(f"{path} defines no improve_algorithm(initial_solution, utility, "
                        "language_model); add it (see selfimprove/stop/programs/seed_improver.py)")
    return source
