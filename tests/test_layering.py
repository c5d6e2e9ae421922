"""The layering contract of pyproject.toml [tool.importlinter], checked by import-linter on the real import
graph of this checkout: nothing imports the command line, no import cycles between sibling packages or
modules, and the report does not import torch. `lint-imports` runs the same check from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter", reason="import-linter is a dev dependency (Python 3.11+)")

CHECK = ("import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def test_the_layering_contract_is_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # grimp reads the package this checkout holds
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    out = done.stdout
    assert done.returncode == 0, out[out.find("Broken contracts"):] or out + done.stderr
    assert out.count(" KEPT") == 3, out
