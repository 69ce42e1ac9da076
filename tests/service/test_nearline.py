"""The nearline path of the service: stored events reach the stream's consumer exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from fastapi.testclient import TestClient

from ecorec.core.config import EcorecConfig
from ecorec.core.events import EventType
from ecorec.service import create_app
from ecorec.service.app import ServiceState
from tests.service.conftest import NATS, Service, delete_stream


def state_of(client: TestClient) -> ServiceState:
    state: ServiceState = client.app.state.service  # type: ignore[attr-defined]
    return state


def test_served_explore_slots_reach_the_bandit_tallies(service: Service, tmp_path: Path) -> None:
    """An impression logged by recommend is a decision the nearline consumer counts."""
    data = service.config.model_dump()
    data["pipeline"]["rerank"] = {
        "order": ["explore"],
        "explore": {"share": 0.5, "channels": ["popular"]},
    }
    # its own outbox and stream: on a shared NATS durable, the module's app could consume the
    # outcomes, and its pipeline has no explore stage to follow them
    data["storage"]["outbox_path"] = str(tmp_path / "outbox.db")
    tag = f"explore_{uuid.uuid4().hex[:8]}"
    if data["storage"]["stream_url"]:
        data["storage"]["stream_url"] = f"{NATS}?stream={tag}&subject=test.{tag}&durable={tag}"
    config = EcorecConfig.model_validate(data)
    headers = service.auth("client")
    with ExitStack() as cleanup:
        if data["storage"]["stream_url"]:
            cleanup.callback(lambda: asyncio.run(delete_stream(tag)))
        client = cleanup.enter_context(TestClient(create_app(config)))
        state = state_of(client)
        user_id = service.user_ids[14]
        slate = client.post("/v1/recommend", json={"user_id": user_id, "n": 10}, headers=headers)
        explored = [s for s in slate.json()["items"] if "rerank:explore(thompson)" in s["reasons"]]
        assert explored
        click = {"event_id": f"bandit-click-{user_id}", "ts": time.time(), "user_id": user_id,
                 "type": "click", "item_id": explored[0]["item_id"],
                 "request_id": slate.json()["request_id"]}  # fmt: skip
        assert (
            client.post("/v1/events", json={"events": [click]}, headers=headers).status_code == 200
        )
        assert state.impressions is not None and state.impressions.flush()
        assert state.nearline is not None and state.nearline.flush(20.0)
        tallies = {t.arm: t for t in state.nearline.stats.bandit_tallies("thompson")}
        assert {s["item_id"] for s in explored} <= set(tallies)
        assert tallies[explored[0]["item_id"]].rewards == 1
        # the live policy followed: the clicked arm's posterior moved up from the prior
        explore = state.pipeline.rerankers[0]  # type: ignore[union-attr]
        means = explore.policy.means()  # type: ignore[attr-defined]
        assert means[explored[0]["item_id"]] > means[explored[-1]["item_id"]] or len(explored) == 1


def test_events_reach_the_nearline_stats_once(service: Service) -> None:
    user_id = service.user_ids[11]
    item = "nearline-item"
    events = [
        {"event_id": f"nl-{user_id}-{k}", "ts": time.time(), "user_id": user_id,
         "type": "click", "item_id": item}
        for k in range(3)
    ]  # fmt: skip
    headers = service.auth("client")
    assert (
        service.client.post("/v1/events", json={"events": events}, headers=headers).json()["stored"]
        == 3
    )
    # the same batch again (a client's retry): published again, applied once
    service.client.post("/v1/events", json={"events": events}, headers=headers)
    nearline = state_of(service.client).nearline
    assert nearline is not None
    assert nearline.flush(20.0)
    assert nearline.stats.item_stats(item) == {str(EventType.CLICK): 3}
    assert nearline.pending == 0 and not nearline.degraded


def test_stream_down_keeps_events_in_the_outbox_and_says_degraded(
    service: Service, tmp_path
) -> None:
    config = service.config.model_copy(deep=True)
    config.storage.stream_url = "nats://127.0.0.1:1"  # nothing listens there
    config.storage.outbox_path = str(tmp_path / "outbox.db")
    user_id = service.user_ids[12]
    events = [
        {"event_id": f"down-{user_id}-{k}", "ts": time.time(), "user_id": user_id,
         "type": "like", "item_id": "nearline-down"}
        for k in range(2)
    ]  # fmt: skip
    headers = service.auth("client")
    with TestClient(create_app(config)) as client:
        nearline = state_of(client).nearline
        assert nearline is not None
        first = client.post("/v1/events", json={"events": events[:1]}, headers=headers)
        assert first.status_code == 200, first.text
        # the relay's attempt to publish it fails in the background; from then on it is known
        deadline = time.monotonic() + 10
        while not nearline.degraded and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = client.post("/v1/events", json={"events": events[1:]}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["degraded"] is True and answer.json()["stored"] == 1
        assert nearline.pending == 2
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["degraded"] == ["stream: unreachable, 2 events in the outbox"]
        assert 'ecorec_fallbacks_total{reason="stream:unavailable"}' in client.get("/metrics").text
    # the outbox outlives the process; a service with a reachable stream replays it
    config.storage.stream_url = service.config.storage.stream_url
    with TestClient(create_app(config)) as client:
        nearline = state_of(client).nearline
        assert nearline is not None and nearline.flush(20.0)
        assert nearline.pending == 0
        assert nearline.stats.item_stats("nearline-down") == {str(EventType.LIKE): 2}


def test_erasure_reaches_the_nearline_state(service: Service) -> None:
    user_id = service.user_ids[13]
    now = time.time()
    events = [
        {"event_id": f"er-imp-{user_id}", "ts": now, "user_id": user_id, "type": "impression",
         "item_id": "er-item", "request_id": f"er-{user_id}",
         "extra": {"arm": "er-item", "policy": "thompson"}},
    ]  # fmt: skip
    client = service.client
    assert (
        client.post("/v1/events", json={"events": events}, headers=service.auth("client")).json()[
            "stored"
        ]
        == 1
    )
    nearline = state_of(client).nearline
    assert nearline is not None and nearline.flush(20.0)
    receipt = client.delete(f"/v1/users/{user_id}", headers=service.auth("admin")).json()
    assert receipt["counts"]["nearline"] == 1 and "nearline" in receipt["stores"]
