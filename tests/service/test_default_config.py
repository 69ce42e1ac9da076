"""The service over the default pipeline (every default channel, DeepFM, every re-ranker)."""

from __future__ import annotations

from pathlib import Path

import torch
from fastapi.testclient import TestClient

from ecorec.core.config import EcorecConfig
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.factory import build_components, train_all
from ecorec.service import create_app
from ecorec.service.auth import KeyStore


def test_default_pipeline_serves_with_its_ranker_version(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = EcorecConfig.model_validate(
        {"storage": {"database_url": f"sqlite:///{tmp_path / 'ecorec.db'}"}}
    )
    with Stores(config.storage) as stores:
        spec = PlatformSpec(users=120, items=300, creators=20, advertisers=2, days=3, seed=11)
        write_platform(spec, stores.catalog, stores.events)
        train_all(build_components(config), stores)
        user_id = next(iter(stores.events.scan())).user_id
        ranker_version = stores.registry.active(config.pipeline.rank.model)
    keys = KeyStore(config.storage.database_url)
    key = keys.create_key("client")
    keys.close()
    with TestClient(create_app(config)) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post(
            "/v1/recommend", json={"user_id": user_id, "n": 20}, headers={"X-API-Key": key}
        )
    assert response.status_code == 200, response.text
    slate = response.json()
    assert ranker_version is not None
    assert slate["model_version"] == ranker_version
    assert len(slate["items"]) == 20
