"""ProfileStore backends against the shared contract, plus what only one backend has."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.profiles import MemoryProfileStore, RedisProfileStore
from ecorec.data.profiles.redis import split_prefix
from ecorec.testing.profiles import ProfileStoreContract, expected_profile

REDIS_URL = "redis://127.0.0.1:6379/0"


class TestMemoryProfileStore(ProfileStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MemoryProfileStore]:
        store = MemoryProfileStore()
        yield store
        store.close()


def _rich_deltas() -> list[ProfileDelta]:
    return [
        ProfileDelta(
            recent=[("i1", 3.0), ("i2", 1.0)], interests={"music": 0.1}, consent={"training": False}
        ),
        ProfileDelta(negatives={"i9"}, blocked_creators={"c1"}, interests={"music": 0.2}),
    ]


def test_snapshot_restore_round_trip(tmp_path: Path) -> None:
    store = MemoryProfileStore()
    for delta in _rich_deltas():
        store.apply("u1", delta)
    store.apply("u2", ProfileDelta(recent=[("i5", 7.5)]))
    path = store.snapshot(tmp_path / "sub" / "profiles.jsonl")
    assert not list(path.parent.glob("*.tmp"))  # the temp file was moved, not left behind

    restored = MemoryProfileStore()
    assert restored.restore(path) == 2
    assert restored.get("u1") == expected_profile("u1", *_rich_deltas())
    assert restored.get("u2") == store.get("u2")
    assert sorted(restored.user_ids()) == ["u1", "u2"]


def test_snapshot_path_restores_on_start_and_saves_on_close(tmp_path: Path) -> None:
    path = tmp_path / "profiles.jsonl"
    store = MemoryProfileStore(snapshot_path=path)
    assert len(store) == 0
    for delta in _rich_deltas():
        store.apply("u1", delta)
    store.close()

    reopened = MemoryProfileStore(snapshot_path=path)
    assert reopened.get("u1") == expected_profile("u1", *_rich_deltas())
    reopened.delete("u1")
    reopened.close()
    assert MemoryProfileStore(snapshot_path=path).get("u1") == Profile("u1")


def test_snapshot_replaces_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "profiles.jsonl"
    store = MemoryProfileStore()
    store.apply("u1", ProfileDelta(negatives={"i1"}))
    store.snapshot(path)
    store.delete("u1")
    store.apply("u2", ProfileDelta(negatives={"i2"}))
    store.snapshot(path)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["user_id"] for line in lines] == ["u2"]


def test_snapshot_without_path_is_an_error() -> None:
    with pytest.raises(ValueError, match="snapshot_path"):
        MemoryProfileStore().snapshot()


def test_split_prefix() -> None:
    assert split_prefix("redis://127.0.0.1:6379/0?prefix=t1") == ("redis://127.0.0.1:6379/0", "t1")
    assert split_prefix("redis://h:1/2?socket_timeout=5&prefix=p") == (
        "redis://h:1/2?socket_timeout=5",
        "p",
    )
    assert split_prefix("redis://h:1/2") == ("redis://h:1/2", None)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix; every key under it is removed after the test."""
    prefix = f"ecorec-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.services
class TestRedisProfileStore(ProfileStoreContract):
    @pytest.fixture
    def store(self, redis_prefix: str) -> Iterator[RedisProfileStore]:
        store = RedisProfileStore(f"{REDIS_URL}?prefix={redis_prefix}")
        yield store
        store.close()

    def test_keys_are_native_structures_under_the_prefix(
        self, store: RedisProfileStore, redis_prefix: str
    ) -> None:
        store.apply(
            "u1",
            ProfileDelta(
                recent=[("i1", 1.0)],
                negatives={"i2"},
                blocked_creators={"c1"},
                interests={"m": 1.0},
                consent={"training": False},
            ),
        )
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            keys = sorted(client.scan_iter(match=f"{redis_prefix}:*"))
            assert {k.rsplit(":", 1)[1]: client.type(k) for k in keys} == {
                "blocked": "set",
                "consent": "hash",
                "interests": "hash",
                "negatives": "set",
                "recent": "list",
                "seen": "set",
            }
            store.delete("u1")
            assert list(client.scan_iter(match=f"{redis_prefix}:*")) == []
        finally:
            client.close()

    def test_two_clients_see_one_state(self, store: RedisProfileStore, redis_prefix: str) -> None:
        other = RedisProfileStore(REDIS_URL, prefix=redis_prefix)
        try:
            store.apply("u1", ProfileDelta(interests={"music": 1.0}))
            assert other.apply("u1", ProfileDelta(interests={"music": 0.5})).interests == {
                "music": 1.5
            }
            assert store.get("u1").interests == {"music": 1.5}
        finally:
            other.close()
