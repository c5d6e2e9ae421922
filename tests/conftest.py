"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files: $SELFIMPROVE_DATA_DIR, else ../shared/data beside the repository."""
    root = Path(os.environ.get("SELFIMPROVE_DATA_DIR", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"real benchmark data not found at {root} (set SELFIMPROVE_DATA_DIR)")
    return root
