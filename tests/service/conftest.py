"""A small trained platform and a running app over it, shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecorec.core.config import EcorecConfig
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.factory import build_components, train_all
from ecorec.service import create_app
from ecorec.service.auth import KeyStore


def cheap_config(database_url: str) -> EcorecConfig:
    """Two cheap recall channels, recall order as the ranker, no re-rankers: fast to train."""
    return EcorecConfig.model_validate(
        {
            "storage": {"database_url": database_url},
            "pipeline": {
                "recall": {"channels": ["popular", "item_cf"]},
                "rank": {"model": "recall_order"},
                "rerank": {"order": []},
            },
        }
    )


def make_platform(folder: Path) -> EcorecConfig:
    """Generate a small platform in ``folder`` and train the cheap pipeline on it."""
    config = cheap_config(f"sqlite:///{folder / 'ecorec.db'}")
    with Stores(config.storage) as stores:
        spec = PlatformSpec(users=120, items=300, creators=20, advertisers=2, days=3, seed=11)
        write_platform(spec, stores.catalog, stores.events)
        train_all(build_components(config), stores)
    return config


@dataclass
class Service:
    """A running app with one key per role."""

    client: TestClient
    config: EcorecConfig
    keys: dict[str, str]
    user_ids: list[str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = make_platform(tmp_path_factory.mktemp("service"))
    with Stores(config.storage) as stores:
        # users with a history, so exports and erasures have something to show
        user_ids = sorted({event.user_id for event in stores.events.scan()})[:50]
    store = KeyStore(config.storage.database_url)
    keys = {
        "client": store.create_key("client"),
        "admin": store.create_key("admin"),
        "user": store.create_key("user", user_id=user_ids[0]),
    }
    store.close()
    with TestClient(create_app(config)) as client:
        yield Service(client, config, keys, user_ids)
