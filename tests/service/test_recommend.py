"""POST /v1/recommend: slates, impressions, limits, and the real-time not-interested loop."""

from __future__ import annotations

import time
from typing import Any

from ecorec.core.events import EventType
from ecorec.data.stores import Stores
from tests.service.conftest import Service


def recommend(service: Service, user_id: str, n: int = 10) -> dict[str, Any]:
    response = service.client.post(
        "/v1/recommend",
        json={"user_id": user_id, "scene": "feed", "n": n},
        headers=service.auth("client"),
    )
    assert response.status_code == 200, response.text
    slate: dict[str, Any] = response.json()
    return slate


def test_recommend_returns_a_slate_with_a_client_key(service: Service) -> None:
    slate = recommend(service, service.user_ids[1], n=7)
    assert len(slate["items"]) == 7
    assert [item["position"] for item in slate["items"]] == list(range(7))
    assert len({item["item_id"] for item in slate["items"]}) == 7
    assert slate["degraded"] is False
    assert slate["model_version"] is None  # recall_order has no trained model
    assert all(item["reasons"][0].startswith("recall:") for item in slate["items"])


def test_impressions_are_logged_with_request_position_channel_and_scene(service: Service) -> None:
    user_id = service.user_ids[2]
    slate = recommend(service, user_id, n=5)
    assert service.state.impressions is not None and service.state.impressions.flush()
    with Stores(service.config.storage) as stores:
        logged = [
            e
            for e in stores.events.scan(user_id=user_id, types=[EventType.IMPRESSION.value])
            if e.request_id == slate["request_id"]
        ]
    assert sorted(e.position or 0 for e in logged) == list(range(5))
    by_position = {e.position: e for e in logged}
    for item in slate["items"]:
        event = by_position[item["position"]]
        assert event.item_id == item["item_id"]
        assert event.extra is not None
        assert event.extra["channel"] == item["channel"]
        assert event.extra["scene"] == "feed"


def test_not_interested_item_is_gone_from_the_next_recommendation(service: Service) -> None:
    user_id = service.user_ids[3]
    first = recommend(service, user_id)
    rejected = first["items"][0]["item_id"]
    event = {
        "event_id": f"ni-{user_id}-{rejected}",
        "ts": time.time(),
        "user_id": user_id,
        "type": "not_interested",
        "item_id": rejected,
    }
    response = service.client.post(
        "/v1/events", json={"events": [event]}, headers=service.auth("client")
    )
    assert response.status_code == 200, response.text
    second = recommend(service, user_id)
    assert rejected not in {item["item_id"] for item in second["items"]}
    assert second["items"]


def test_limits_are_part_of_the_schema(service: Service) -> None:
    headers = service.auth("client")
    post = service.client.post
    user_id = service.user_ids[4]
    assert (
        post("/v1/recommend", json={"user_id": user_id, "n": 201}, headers=headers).status_code
        == 422
    )
    assert (
        post("/v1/recommend", json={"user_id": user_id, "x": 1}, headers=headers).status_code == 422
    )
    assert post("/v1/recommend", json={"user_id": "u" * 129}, headers=headers).status_code == 422
    malformed = post(
        "/v1/recommend",
        content=b'{"user_id": ',
        headers={**headers, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    huge = post(
        "/v1/recommend",
        content=b" " * 1_000_001,
        headers={**headers, "content-type": "application/json"},
    )
    assert huge.status_code == 413
    # no Content-Length (chunked transfer): the size is counted as the body arrives
    chunked = post(
        "/v1/recommend",
        content=iter([b" " * 600_000, b" " * 600_000]),
        headers={**headers, "content-type": "application/json"},
    )
    assert chunked.status_code == 413
    small_chunked = post(
        "/v1/recommend",
        content=iter([b'{"user_id": ', b'"' + user_id.encode() + b'", "n": 2}']),
        headers={**headers, "content-type": "application/json"},
    )
    assert small_chunked.status_code == 200, small_chunked.text


def test_past_capacity_a_request_gets_the_light_slate_at_once(service: Service) -> None:
    queue = service.state.pipeline_queue
    assert queue.budget_ms == service.config.service.overload_wait_ms == 250.0
    user_id = service.user_ids[5]
    before = recommend(service, user_id)
    assert before["degraded"] is False
    measured = queue.call_ms
    try:
        with queue.turn() as full:  # a call that runs while calls take 1 s: 1 s to wait
            assert full
            queue.call_ms = 1000.0
            light = recommend(service, user_id)
    finally:
        queue.call_ms = measured
    assert light["degraded"] is True and light["items"]
    # the non-personalised channel only (item_cf is personalised), in its own order
    assert {item["channel"] for item in light["items"]} == {"popular"}
    scores = [item["score"] for item in light["items"]]
    assert scores == sorted(scores, reverse=True)
    assert queue.queued == 0
    assert recommend(service, user_id)["degraded"] is False
    metrics = service.client.get("/metrics").text
    assert 'ecorec_fallbacks_total{reason="overload"} 1.0' in metrics
