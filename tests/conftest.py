"""Shared test fixtures: where the real data sets live, and skipping when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("SITING_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (``$SITING_DATA_DIR``, default ``../shared/data``); skip if absent."""
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not found (set SITING_DATA_DIR)")
    return path
