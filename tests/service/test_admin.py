"""Admin routes: curated pool CRUD, hot model activation with no failed request, config."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from ecorec.core.config import ConfigError
from ecorec.core.entities import Item
from ecorec.service.app import ServiceState
from ecorec.service.routes.admin import _redact
from tests.service.conftest import Service

TS = 1_800_000_000.0


def state_of(service: Service) -> ServiceState:
    state: ServiceState = service.client.app.state.service  # type: ignore[attr-defined]
    return state


def recommend_ok(service: Service) -> dict[str, Any]:
    body = {"user_id": service.user_ids[7], "n": 5}
    response = service.client.post("/v1/recommend", json=body, headers=service.auth("client"))
    assert response.status_code == 200, response.text
    slate: dict[str, Any] = response.json()
    assert len(slate["items"]) == 5
    return slate


def resave(service: Service, name: str, tmp_path: Path) -> str:
    """Save the active files of ``name`` again as a new version (not activated)."""
    registry = state_of(service).stores.registry
    active = registry.active(name)
    assert active is not None
    files = tmp_path / f"{name}-copy"
    shutil.copytree(registry.open(name), files, ignore=shutil.ignore_patterns("manifest.json"))
    return registry.save(name, files, config=registry.manifest(name, active)["config"])


def item_ids(service: Service, k: int) -> list[str]:
    return state_of(service).stores.catalog.ids(Item, limit=k)


def test_pool_crud_round_trip(service: Service) -> None:
    client, admin = service.client, service.auth("admin")
    items = item_ids(service, 3)
    pool = {"name": "launch", "item_ids": items, "starts_at": TS, "ends_at": TS + 86_400}
    put = client.put("/v1/admin/pools/launch", json=pool, headers=admin)
    assert put.status_code == 200, put.text
    stored = {**pool, "pool_id": "launch", "segments": [], "position_hint": None}
    assert put.json() == stored
    assert client.get("/v1/admin/pools/launch", headers=admin).json() == stored
    assert stored in client.get("/v1/admin/pools", headers=admin).json()
    changed = {**pool, "item_ids": items[:1], "segments": ["new_users"], "position_hint": 2}
    assert client.put("/v1/admin/pools/launch", json=changed, headers=admin).status_code == 200
    got = client.get("/v1/admin/pools/launch", headers=admin).json()
    assert (got["item_ids"], got["segments"], got["position_hint"]) == (
        items[:1],
        ["new_users"],
        2,
    )
    assert client.delete("/v1/admin/pools/launch", headers=admin).status_code == 204
    assert client.get("/v1/admin/pools/launch", headers=admin).status_code == 404
    assert client.delete("/v1/admin/pools/launch", headers=admin).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"ends_at": TS},  # empty window
        {"ends_at": TS - 1},  # ends before it starts
        {"item_ids": ["no-such-item"]},
        {"item_ids": []},
        {"color": "red"},  # unknown field
    ],
)
def test_bad_pools_are_422_and_not_stored(service: Service, change: dict[str, Any]) -> None:
    pool = {"name": "bad", "item_ids": item_ids(service, 2), "starts_at": TS, **change}
    response = service.client.put("/v1/admin/pools/bad", json=pool, headers=service.auth("admin"))
    assert response.status_code == 422, response.text
    assert (
        service.client.get("/v1/admin/pools/bad", headers=service.auth("admin")).status_code == 404
    )


def test_models_lists_names_and_active_versions(service: Service) -> None:
    models = service.client.get("/v1/admin/models", headers=service.auth("admin")).json()
    registry = state_of(service).stores.registry
    assert {m["name"] for m in models} == set(registry.names()) >= {"item_cf", "popular"}
    for model in models:
        assert model["active"] == registry.active(model["name"])
        assert model["active"] in model["versions"]


def test_activating_an_older_version_swaps_the_pipeline(service: Service, tmp_path: Path) -> None:
    state = state_of(service)
    registry = state.stores.registry
    old = registry.active("item_cf")
    new = resave(service, "item_cf", tmp_path)
    registry.activate("item_cf", new)
    before = recommend_ok(service)
    serving = state.pipeline
    response = service.client.post(
        "/v1/admin/models/item_cf/activate", json={"version": old}, headers=service.auth("admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] == old
    assert registry.active("item_cf") == old
    assert state.pipeline is not None and state.pipeline is not serving
    after = recommend_ok(service)
    # same model files in both versions: the same user gets the same items
    assert [i["item_id"] for i in after["items"]] == [i["item_id"] for i in before["items"]]


def test_recommend_keeps_answering_during_activations(service: Service) -> None:
    """Slates requested while the pipeline is swapped back and forth all succeed."""
    registry = state_of(service).stores.registry
    versions = registry.versions("popular")
    statuses: list[int] = []
    done = threading.Event()

    def load() -> None:
        body = {"user_id": service.user_ids[8], "n": 5}
        while (not done.is_set() or not statuses) and len(statuses) < 100:  # under the burst
            response = service.client.post(
                "/v1/recommend", json=body, headers=service.auth("client")
            )
            statuses.append(response.status_code)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        for version in [*versions, *versions]:
            response = service.client.post(
                "/v1/admin/models/popular/activate",
                json={"version": version},
                headers=service.auth("admin"),
            )
            assert response.status_code in (200, 422), response.text  # 422: a spoilt copy
    finally:
        done.set()
        worker.join()
    assert statuses and set(statuses) == {200}


def test_a_bad_version_leaves_the_old_pipeline_serving(service: Service) -> None:
    state = state_of(service)
    serving, active = state.pipeline, state.stores.registry.active("item_cf")
    admin = service.auth("admin")
    for name, version in (("item_cf", "20000101T000000.000000Z-deadbeef"), ("nothing", "v1")):
        response = service.client.post(
            f"/v1/admin/models/{name}/activate", json={"version": version}, headers=admin
        )
        assert response.status_code == 404, response.text
    assert state.pipeline is serving
    assert state.stores.registry.active("item_cf") == active
    recommend_ok(service)


def test_a_failed_build_is_409_and_restores_the_pointer(
    service: Service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = state_of(service)
    registry = state.stores.registry
    serving, active = state.pipeline, registry.active("item_cf")
    other = resave(service, "item_cf", tmp_path)

    def broken(_state: ServiceState) -> None:
        raise ConfigError("no recall channel has a trained model")

    monkeypatch.setattr("ecorec.service.routes.admin.build_serving", broken)
    response = service.client.post(
        "/v1/admin/models/item_cf/activate", json={"version": other}, headers=service.auth("admin")
    )
    assert response.status_code == 409
    assert "no recall channel" in response.json()["detail"]
    assert registry.active("item_cf") == active
    assert state.pipeline is serving
    recommend_ok(service)


def test_a_corrupted_version_is_422(service: Service, tmp_path: Path) -> None:
    registry = state_of(service).stores.registry
    active = registry.active("popular")
    spoilt = resave(service, "popular", tmp_path)
    folder = registry.root / "popular" / spoilt
    target = next(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    target.write_bytes(target.read_bytes() + b"x")
    response = service.client.post(
        "/v1/admin/models/popular/activate", json={"version": spoilt}, headers=service.auth("admin")
    )
    assert response.status_code == 422, response.text
    assert registry.active("popular") == active


def test_config_is_the_effective_one_without_secrets(service: Service) -> None:
    shown = service.client.get("/v1/admin/config", headers=service.auth("admin")).json()
    assert shown["pipeline"] == service.config.pipeline.model_dump(mode="json")
    assert shown["storage"]["database_url"] == service.config.storage.database_url
    masked = _redact({"storage": {"profiles_url": "redis://me:hunter2@h:6379/0", "api_key": "k"}})
    assert masked == {"storage": {"profiles_url": "redis://me:***@h:6379/0", "api_key": "***"}}
