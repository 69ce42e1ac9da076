"""GET /v1/recommend/{request_id}/explain: the slate's reasons, from memory or the EventLog."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ecorec.service import create_app
from ecorec.service.routes.explain import new_request_id, request_time
from tests.service.conftest import Service


def recommend(service: Service, user_id: str, n: int = 6) -> dict[str, Any]:
    body = {"user_id": user_id, "n": n}
    response = service.client.post("/v1/recommend", json=body, headers=service.auth("client"))
    assert response.status_code == 200, response.text
    slate: dict[str, Any] = response.json()
    return slate


def expected(slate: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("position", "item_id", "channel", "reasons", "is_ad")
    return [{key: item[key] for key in keys} for item in slate["items"]]


def test_explain_returns_the_slates_reasons(service: Service) -> None:
    slate = recommend(service, service.user_ids[3])
    for role in ("client", "admin"):
        response = service.client.get(
            f"/v1/recommend/{slate['request_id']}/explain", headers=service.auth(role)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["request_id"] == slate["request_id"]
        assert body["items"] == expected(slate)
        assert all(item["reasons"] for item in body["items"])


def test_unknown_request_id_is_404(service: Service) -> None:
    for request_id in ("nope", new_request_id(1_800_000_000.0), "18c0-zz"):
        response = service.client.get(
            f"/v1/recommend/{request_id}/explain", headers=service.auth("client")
        )
        assert response.status_code == 404, request_id


def test_explain_after_a_restart_reads_the_event_log(service: Service) -> None:
    slate = recommend(service, service.user_ids[4], n=8)
    assert service.state.impressions is not None and service.state.impressions.flush()
    # a second app over the same database: an empty in-memory LRU
    with TestClient(create_app(service.config)) as fresh:
        assert len(fresh.app.state.service.recent_slates) == 0  # type: ignore[attr-defined]
        response = fresh.get(
            f"/v1/recommend/{slate['request_id']}/explain", headers=service.auth("client")
        )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == expected(slate)


def test_request_ids_carry_their_time() -> None:
    ts = 1_800_000_123.456
    request_id = new_request_id(ts)
    assert request_time(request_id) == ts
    assert new_request_id(ts) != request_id
    assert request_time("deadbeef") is None
    assert request_time("xyz-1") is None
