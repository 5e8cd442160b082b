"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["shared_datasets_dir"]

_REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_datasets_dir() -> Path:
    """The local copies of the real benchmark datasets ($SPTX_SHARED_DATASETS, else `<repo>/../shared/datasets`);
    skips the test when absent."""
    path = Path(os.environ.get("SPTX_SHARED_DATASETS") or _REPO / ".." / "shared" / "datasets").resolve()
    if not path.is_dir():
        pytest.skip(f"real datasets not available: {path} does not exist")
    return path
