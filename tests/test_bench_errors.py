"""The bench scripts meet bad input like the CLI does: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["sampling.py", "metrics.py"])
def test_missing_model_is_one_clear_line(script, tmp_path):
    missing = tmp_path / "no-such-model"
    missing.mkdir()  # a directory without config.json: not a checkpoint
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--model", str(missing)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "config.json" in result.stderr
