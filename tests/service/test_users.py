"""Consent, export and erasure through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import Service

TS = 1_800_000_000.0


def test_consent_put_updates_the_profile(service: Service) -> None:
    user_id = service.user_ids[7]
    response = service.client.put(
        f"/v1/users/{user_id}/consent",
        json={"personalization": False},
        headers=service.auth("client"),
    )
    assert response.status_code == 200
    assert response.json() == {"user_id": user_id, "consent": {"personalization": False}}
    profiles = service.client.app.state.service.stores.profiles  # type: ignore[attr-defined]
    assert profiles.get(user_id).allows("personalization") is False
    bad = service.client.put(
        f"/v1/users/{user_id}/consent", json={"marketing": True}, headers=service.auth("client")
    )
    assert bad.status_code == 422


def test_a_user_token_exports_its_own_data(service: Service) -> None:
    own = service.user_ids[0]
    response = service.client.get(f"/v1/users/{own}/export", headers=service.auth("user"))
    assert response.status_code == 200
    data = response.json()
    assert data["user_id"] == own
    assert data["events"] and all(e["user_id"] == own for e in data["events"])


def test_erasure_returns_a_receipt_and_late_events_do_not_bring_the_user_back(
    service: Service,
) -> None:
    user_id = service.user_ids[8]
    client, admin = service.client, service.auth("admin")
    response = client.delete(f"/v1/users/{user_id}", headers=admin)
    assert response.status_code == 200
    receipt = response.json()
    assert user_id not in response.text
    assert receipt["counts"]["events"] > 0
    late = {
        "event_id": f"late-{user_id}",
        "ts": TS,
        "user_id": user_id,
        "type": "click",
        "item_id": "i1",
    }
    posted = client.post("/v1/events", json={"events": [late]}, headers=service.auth("client"))
    assert posted.json() == {
        "received": 1,
        "stored": 0,
        "duplicates": 0,
        "dropped": 1,
        "degraded": False,
    }
    export = client.get(f"/v1/users/{user_id}/export", headers=admin).json()
    assert export["events"] == []
    served = client.post(
        "/v1/recommend", json={"user_id": user_id, "n": 10}, headers=service.auth("client")
    ).json()
    # nothing personal for an erased user, even from models trained before the erasure
    assert {item["channel"] for item in served["items"]} <= {"popular"}


def test_without_personalisation_consent_only_non_personal_channels_recommend(
    service: Service,
) -> None:
    client, headers = service.client, service.auth("client")

    def slate(user_id: str) -> list[dict[str, Any]]:
        body = {"user_id": user_id, "n": 20}
        items: list[dict[str, Any]] = client.post(
            "/v1/recommend", json=body, headers=headers
        ).json()["items"]
        return items

    # clicks give the profile a history, which item-CF (a personalised channel) recalls from
    user_id = service.user_ids[11]
    clicks = [
        {
            "event_id": f"consent-{i}",
            "ts": TS + i,
            "user_id": user_id,
            "type": "click",
            "item_id": item["item_id"],
        }
        for i, item in enumerate(slate(user_id)[:5])
    ]
    assert client.post("/v1/events", json={"events": clicks}, headers=headers).status_code == 200
    assert any("recall:item_cf" in item["reasons"] for item in slate(user_id))
    client.put(f"/v1/users/{user_id}/consent", json={"personalization": False}, headers=headers)
    after = slate(user_id)
    assert after
    assert {item["channel"] for item in after} == {"popular"}
