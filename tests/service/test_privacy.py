"""Privacy library: export, erasure with a deletion log, and blocking of erased users.

Every test runs on SQLite (a temporary file) and, with marker ``services``, on the PostgreSQL
at 127.0.0.1 in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa

from ecorec.core.config import StorageConfig
from ecorec.core.entities import User
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.registry import ModelRegistry
from ecorec.data.stores import Stores, models_root
from ecorec.service.privacy import DeletionLog, erase_user, export_user, reject_deleted

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
T0 = 1_700_000_000.0
ALICE, BOB = "alice-7f3", "bob-91c"


def _events(user_id: str, tag: str) -> list[Event]:
    return [
        Event(f"{tag}-1", T0, user_id, EventType.CLICK, item_id="i1", position=2),
        Event(f"{tag}-2", T0 + 1, user_id, EventType.PLAY, item_id="i2", value=31.5),
        Event(f"{tag}-3", T0 + 2, user_id, EventType.TIP, creator_id="c1", value=2.5),
        Event(f"{tag}-4", T0 + 3, user_id, EventType.COMMENT, item_id="i2", extra={"text": "nice"}),
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ecorec.db'}"
        return
    schema = f"ecorec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def stores(database_url: str, tmp_path: Path) -> Iterator[Stores]:
    config = StorageConfig(
        database_url=database_url, profiles_url="memory://", models_url=str(tmp_path / "models")
    )
    with Stores(config) as opened:
        opened.catalog.put([User(ALICE, segment="s1", region="eu"), User(BOB, segment="s2")])
        opened.events.append(_events(ALICE, "a") + _events(BOB, "b"))
        for user_id, creator in ((ALICE, "c7"), (BOB, "c8")):
            opened.profiles.apply(
                user_id,
                ProfileDelta(
                    recent=[("i1", T0)],
                    negatives={"i9"},
                    blocked_creators={creator},
                    interests={"music": 1.0},
                    consent={"training": False},
                ),
            )
        yield opened


@pytest.fixture
def log(database_url: str) -> Iterator[DeletionLog]:
    with DeletionLog(database_url) as opened:
        yield opened


def _save_user_model(stores: Stores, users: list[str]) -> str:
    """A LightGCN-shaped model folder (user ids + row-aligned vectors), saved and activated."""
    folder = models_root(stores.config).parent / "trained"
    folder.mkdir()
    np.save(folder / "user_ids.npy", np.asarray(users, dtype=str), allow_pickle=False)
    vectors = np.arange(len(users) * 2, dtype=np.float32).reshape(len(users), 2)
    np.save(folder / "user_vectors.npy", vectors, allow_pickle=False)
    registry: ModelRegistry = stores.registry
    version = registry.save("lightgcn", folder)
    registry.activate("lightgcn", version)
    return version


def test_export_holds_the_user_data_and_nothing_of_another_user(stores: Stores) -> None:
    out = export_user(stores, ALICE)
    text = json.dumps(out)  # JSON-ready: no dataclasses, sets or Decimals left
    assert BOB not in text and "b-1" not in text and "c8" not in text
    assert out["user"]["user_id"] == ALICE and out["user"]["region"] == "eu"
    assert [e["event_id"] for e in out["events"]] == ["a-1", "a-2", "a-3", "a-4"]
    by_id = {e["event_id"]: e for e in out["events"]}
    assert by_id["a-3"]["value"] == "2.5"  # money as a decimal string
    assert by_id["a-2"]["value"] == 31.5  # watch seconds stay a number
    assert by_id["a-4"]["extra"] == {"text": "nice"} and by_id["a-1"]["type"] == "click"
    profile = out["profile"]
    assert profile["blocked_creators"] == ["c7"] and profile["negatives"] == ["i9"]
    assert profile["recent"] == [{"item_id": "i1", "ts": T0}]
    assert profile["consent"] == {"training": False}
    assert out["models"] == []
    assert set(out["sources"]) == {"catalog", "events", "profiles", "models"}


def test_export_of_an_unknown_user_is_empty(stores: Stores) -> None:
    out = export_user(stores, "nobody")
    assert out["user"] is None and out["events"] == [] and out["profile"]["recent"] == []


def test_export_and_receipt_name_models_holding_a_user_row(
    stores: Stores, log: DeletionLog
) -> None:
    version = _save_user_model(stores, [BOB, ALICE])
    rows = export_user(stores, ALICE)["models"]
    assert rows == [
        {"model": "lightgcn", "version": version, "file": "user_ids.npy", "vector": [2.0, 3.0]}
    ]
    receipt = erase_user(stores, ALICE, log, now=T0 + 100)
    assert receipt["retained_until_retrain"] == [f"lightgcn@{version}"]


def test_erase_removes_events_profile_and_catalog_row(stores: Stores, log: DeletionLog) -> None:
    receipt = erase_user(stores, ALICE, log, now=T0 + 100)
    assert receipt["counts"] == {"events": 4, "profile": 1, "user": 1}
    assert stores.events.count(user_id=ALICE) == 0
    assert stores.profiles.get(ALICE) == Profile(ALICE)
    assert stores.catalog.get(User, [ALICE]) == {}
    # the other user is untouched
    assert stores.events.count(user_id=BOB) == 4
    assert stores.profiles.get(BOB).blocked_creators == {"c8"}
    assert set(stores.catalog.get(User, [BOB])) == {BOB}
    assert log.is_deleted(ALICE) and not log.is_deleted(BOB)


def test_receipt_holds_no_personal_data(stores: Stores, log: DeletionLog) -> None:
    receipt = erase_user(stores, ALICE, log, now=T0 + 100)
    assert ALICE not in json.dumps(receipt)
    assert receipt["erased_at"] == T0 + 100
    assert set(receipt) == {"receipt_id", "erased_at", "counts", "stores", "retained_until_retrain"}
    assert {"deletion_log", "events", "profiles", "catalog"} <= set(receipt["stores"])


def test_erase_is_idempotent(stores: Stores, log: DeletionLog) -> None:
    first = erase_user(stores, ALICE, log, now=T0 + 100)
    second = erase_user(stores, ALICE, log, now=T0 + 200)
    assert second["counts"] == {"events": 0, "profile": 0, "user": 0}
    assert second["receipt_id"] != first["receipt_id"]
    assert log.deleted_since(0.0) == [log.hash(ALICE)]
    assert log.deleted_since(T0 + 150) == []  # the first erasure time is kept


def test_log_persists_across_reopening_and_holds_no_ids(
    database_url: str, stores: Stores, log: DeletionLog
) -> None:
    erase_user(stores, ALICE, log, now=T0 + 100)
    log.close()
    with DeletionLog(database_url) as reopened:
        assert reopened.is_deleted(ALICE) and not reopened.is_deleted(BOB)
        assert reopened.deleted_since(T0 + 100) == [reopened.hash(ALICE)]
        engine = reopened.engine
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT user_hash FROM deletion_log")).scalars().all()
    assert stored == [reopened.hash(ALICE)] and ALICE not in stored[0]


def test_salt_is_per_database(database_url: str, tmp_path: Path, log: DeletionLog) -> None:
    with DeletionLog(database_url) as same:
        assert same.hash(ALICE) == log.hash(ALICE)
    with DeletionLog(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert other.hash(ALICE) != log.hash(ALICE)


def test_deleted_since_is_ordered_by_erasure_time(log: DeletionLog) -> None:
    log.record("u3", T0 + 30)
    log.record("u1", T0 + 10)
    log.record("u2", T0 + 20)
    assert log.deleted_since(T0 + 15) == [log.hash("u2"), log.hash("u3")]
    assert log.deleted_since(T0 + 31) == []


def test_late_events_of_an_erased_user_are_dropped(stores: Stores, log: DeletionLog) -> None:
    erase_user(stores, ALICE, log, now=T0 + 100)
    late = [
        Event("late-1", T0 + 5, ALICE, EventType.CLICK, item_id="i3"),
        Event("late-2", T0 + 6, BOB, EventType.CLICK, item_id="i3"),
        Event("late-3", T0 + 7, ALICE, EventType.LIKE, item_id="i3"),
    ]
    kept, dropped = reject_deleted(late, log)
    assert [e.event_id for e in kept] == ["late-2"]
    assert [e.event_id for e in dropped] == ["late-1", "late-3"]
    stores.events.append(kept)
    assert stores.events.count(user_id=ALICE) == 0


def test_reject_deleted_handles_more_ids_than_one_query_chunk(log: DeletionLog) -> None:
    log.record("u1500", T0)
    batch = [Event(f"e{i}", T0, f"u{i}", EventType.CLICK, item_id="i1") for i in range(2000)]
    kept, dropped = reject_deleted(batch, log)
    assert [e.user_id for e in dropped] == ["u1500"] and len(kept) == 1999


class _FailingErasure:
    """An event log whose erasure fails (failure injection: the disk went away)."""

    def delete_user(self, user_id: str) -> int:
        raise OSError("disk gone")


def test_a_failed_erasure_still_blocks_the_user(stores: Stores, log: DeletionLog) -> None:
    stores.__dict__["events"] = _FailingErasure()
    with pytest.raises(OSError, match="disk gone"):
        erase_user(stores, ALICE, log, now=T0 + 100)
    assert log.is_deleted(ALICE)  # logged first: the user cannot come back meanwhile
    assert stores.profiles.get(ALICE) != Profile(ALICE)


def test_a_tampered_model_is_reported_as_unreadable_not_as_clean(
    stores: Stores, log: DeletionLog
) -> None:
    version = _save_user_model(stores, [ALICE])
    vectors = models_root(stores.config) / "lightgcn" / version / "user_vectors.npy"
    vectors.chmod(0o644)
    vectors.write_bytes(b"changed")
    assert export_user(stores, ALICE)["models"] == [
        {"model": "lightgcn", "version": version, "file": None, "unreadable": True}
    ]
    receipt = erase_user(stores, ALICE, log, now=T0 + 100)
    assert receipt["counts"]["events"] == 4
    assert receipt["retained_until_retrain"] == [f"lightgcn@{version}"]


def test_is_deleted_is_remembered_and_an_erasure_elsewhere_counts_within_the_window(
    database_url: str,
) -> None:
    now = [0.0]
    with (
        DeletionLog(database_url, cache_seconds=5.0, clock=lambda: now[0]) as serving,
        DeletionLog(database_url) as elsewhere,
    ):
        assert not serving.is_deleted(ALICE)
        serving.record(BOB, T0)
        assert serving.is_deleted(BOB)  # recorded here: at once
        elsewhere.record(ALICE, T0)  # another process on the same database
        assert not serving.is_deleted(ALICE)  # "not erased" is trusted for the window
        now[0] = 5.0
        assert serving.is_deleted(ALICE)
        elsewhere.engine.dispose()
        now[0] = 100.0
        assert serving.is_deleted(ALICE) and serving.is_deleted(BOB)  # erased for good


def test_is_deleted_asks_the_database_once_per_window_however_many_users(
    database_url: str,
) -> None:
    now = [0.0]
    with DeletionLog(database_url, cache_seconds=5.0, clock=lambda: now[0]) as serving:
        serving.record(ALICE, T0)
        statements: list[str] = []
        sa.event.listen(serving.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        answers = [serving.is_deleted(f"user-{k}") for k in range(200)]
        assert not any(answers) and serving.is_deleted(ALICE)
        assert len(statements) == 2  # the erased rows and their count, for all 201 answers
        now[0] = 5.0
        assert not serving.is_deleted("user-0")
        assert len(statements) == 4  # the window passed: read again, once


def test_an_erasure_dated_before_the_newest_one_seen_still_counts(database_url: str) -> None:
    now = [0.0]
    with (
        DeletionLog(database_url, cache_seconds=5.0, clock=lambda: now[0]) as serving,
        DeletionLog(database_url) as elsewhere,
    ):
        elsewhere.record(BOB, T0 + 3600)
        assert serving.is_deleted(BOB)
        # another process records an erasure timed an hour earlier than the newest one seen:
        # the update after the window reads only recent rows, but the count shows one missing
        elsewhere.record(ALICE, T0)
        now[0] = 5.0
        assert serving.is_deleted(ALICE)
        assert not serving.is_deleted("someone-else")
