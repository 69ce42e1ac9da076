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


@pytest.fixture(scope="session")
def tiny_platform(tmp_path_factory):
    """A small generated platform in real stores (SQLite + catalog), shared by the session.

    Returns the open :class:`~ecorec.data.stores.Stores`; tests must not write to it.
    """
    from ecorec.core.config import StorageConfig
    from ecorec.data.stores import Stores
    from ecorec.data.synthetic import PlatformSpec, write_platform

    folder = tmp_path_factory.mktemp("platform")
    stores = Stores(StorageConfig(database_url=f"sqlite:///{folder / 'ecorec.db'}"))
    spec = PlatformSpec(users=400, items=800, creators=40, advertisers=3, days=6, seed=3)
    write_platform(spec, stores.catalog, stores.events)
    yield stores
    stores.close()


@pytest.fixture(scope="session")
def tiny_training_data(tiny_platform):
    """TrainingData over :func:`tiny_platform`."""
    from ecorec.data.training import TrainingData

    return TrainingData(tiny_platform.events, tiny_platform.catalog)
