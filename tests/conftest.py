"""Shared fixtures: paths to ../shared datasets and small factories."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ML100K = SHARED / "datasets" / "ml-100k"


@pytest.fixture(scope="session")
def ml100k() -> Path:
    """The MovieLens-100K RecBole folder (read in place, never copied: licence)."""
    if not (ML100K / "ml-100k.inter").exists():
        pytest.fail(f"MovieLens-100K not found at {ML100K}: the shared datasets are missing")
    return ML100K
