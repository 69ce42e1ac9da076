"""POST /v1/events: whole-batch validation, durability before the 2xx, idempotent re-sends."""

from __future__ import annotations

from typing import Any

from ecorec.core.entities import Item
from ecorec.data.stores import Stores
from tests.service.conftest import Service

TS = 1_800_000_000.0


def click(event_id: str, user_id: str, item_id: str = "i1", ts: float = TS) -> dict[str, Any]:
    return {"event_id": event_id, "ts": ts, "user_id": user_id, "type": "click", "item_id": item_id}


def count(service: Service, user_id: str) -> int:
    with Stores(service.config.storage) as stores:
        return stores.events.count(user_id=user_id)


def post(service: Service, events: list[dict[str, Any]]) -> Any:
    return service.client.post(
        "/v1/events", json={"events": events}, headers=service.auth("client")
    )


def test_an_invalid_batch_names_every_bad_event_and_writes_nothing(service: Service) -> None:
    user_id = "events-invalid"
    batch = [
        click("ok-1", user_id),
        {"event_id": "bad-1", "ts": TS, "user_id": user_id, "type": "play", "item_id": "i1"},
        {"event_id": "bad-2", "ts": TS, "user_id": user_id, "type": "teleport"},
        click("ok-2", user_id),
        {"event_id": "bad-3", "ts": TS, "user_id": user_id, "type": "block_creator"},
    ]
    response = post(service, batch)
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert [(p["index"], p["event_id"], p["field"]) for p in problems] == [
        (1, "bad-1", "value"),
        (2, "bad-2", "type"),
        (4, "bad-3", "creator_id"),
    ]
    assert count(service, user_id) == 0


def test_schema_errors_are_422_and_write_nothing(service: Service) -> None:
    user_id = "events-schema"
    response = post(service, [click("s-1", user_id), {**click("s-2", user_id), "colour": "red"}])
    assert response.status_code == 422
    assert any(err["loc"][:3] == ["body", "events", 1] for err in response.json()["detail"])
    assert post(service, []).status_code == 422
    assert count(service, user_id) == 0


def test_resending_the_same_event_ids_stores_nothing_twice(service: Service) -> None:
    user_id = "events-resend"
    batch = [click(f"r-{i}", user_id, item_id=f"i{i}", ts=TS + i) for i in range(5)]
    first = post(service, batch)
    assert first.json() == {
        "received": 5,
        "stored": 5,
        "duplicates": 0,
        "dropped": 0,
        "degraded": False,
    }
    again = post(service, [*batch[2:], click("r-new", user_id, ts=TS + 9)])
    assert again.status_code == 200
    assert again.json() == {
        "received": 4,
        "stored": 1,
        "duplicates": 3,
        "dropped": 0,
        "degraded": False,
    }
    assert count(service, user_id) == 6


def test_a_resent_click_does_not_move_the_profile_twice(service: Service) -> None:
    user_id = service.user_ids[10]
    with Stores(service.config.storage) as stores:
        item_id = stores.catalog.ids(Item, 1)[0]
    profile = service.client.app.state.service.stores.profiles  # type: ignore[attr-defined]
    before = profile.get(user_id).interests
    event = click(f"twice-{user_id}", user_id, item_id=item_id)
    assert post(service, [event]).status_code == 200
    once = profile.get(user_id).interests
    assert post(service, [event]).json()["duplicates"] == 1
    assert profile.get(user_id).interests == once
    assert sum(once.values()) == sum(before.values()) + 1.0
