"""Degradation: a profile server that is down costs personalisation, never a 5xx."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from ecorec.service import create_app
from tests.service.conftest import Service


def test_redis_down_serves_from_process_memory_and_says_degraded(service: Service) -> None:
    config = service.config.model_copy(deep=True)
    config.storage.profiles_url = "redis://127.0.0.1:1/0"  # nothing listens there
    headers = service.auth("client")
    user_id = service.user_ids[7]
    with TestClient(create_app(config)) as client:
        first = client.post("/v1/recommend", json={"user_id": user_id, "n": 10}, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["degraded"] is True
        assert first.json()["items"]
        rejected = first.json()["items"][0]["item_id"]
        event = {
            "event_id": f"redis-down-{user_id}",
            "ts": time.time(),
            "user_id": user_id,
            "type": "not_interested",
            "item_id": rejected,
        }
        stored = client.post("/v1/events", json={"events": [event]}, headers=headers)
        assert stored.status_code == 200, stored.text
        # the real-time loop still acts, through the in-process profile
        second = client.post("/v1/recommend", json={"user_id": user_id, "n": 10}, headers=headers)
        assert second.status_code == 200
        assert rejected not in {item["item_id"] for item in second.json()["items"]}
        ready = client.get("/readyz")
        assert ready.status_code == 200  # degraded, still worth sending traffic to
        assert ready.json()["degraded"] == [
            "profiles: server unreachable, serving from process memory"
        ]
        metrics = client.get("/metrics").text
        assert 'ecorec_fallbacks_total{reason="profiles:unavailable"} 2.0' in metrics
