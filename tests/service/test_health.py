"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.service import create_app
from tests.service.conftest import Service, cheap_config


def test_healthz_and_readyz_answer_when_the_pipeline_is_built(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readyz_is_503_without_trained_models_and_recommend_is_503_not_500(
    tmp_path: Path,
) -> None:
    config = cheap_config(f"sqlite:///{tmp_path / 'untrained.db'}")
    with Stores(config.storage) as stores:
        spec = PlatformSpec(users=20, items=30, creators=3, advertisers=0, days=1, seed=1)
        write_platform(spec, stores.catalog, stores.events)
    with TestClient(create_app(config)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "ecorec train" in ready.json()["problems"][0]


def test_metrics_count_routes_fallbacks_and_events_without_ids(service: Service) -> None:
    user_id = service.user_ids[9]
    headers = service.auth("client")
    service.client.post("/v1/recommend", json={"user_id": user_id, "n": 3}, headers=headers)
    event = {
        "event_id": "metrics-1",
        "ts": 1.8e9,
        "user_id": user_id,
        "type": "like",
        "item_id": "i1",
    }
    service.client.post("/v1/events", json={"events": [event]}, headers=headers)
    response = service.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE ecorec_http_requests_total counter" in text
    assert 'ecorec_http_requests_total{method="POST",route="/v1/recommend",status="200"}' in text
    assert (
        'ecorec_http_request_seconds_bucket{le="0.05",method="POST",route="/v1/recommend"}' in text
    )
    assert 'ecorec_events_ingested_total{outcome="stored",type="like"}' in text
    assert "# TYPE ecorec_fallbacks_total counter" in text
    assert user_id not in text
