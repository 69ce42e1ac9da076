"""Profile store fallback: Redis down -> in-process store, writes queued and replayed in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.profiles import MemoryProfileStore, RedisProfileStore
from ecorec.data.profiles.fallback import FallbackProfileStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Flaky(MemoryProfileStore):
    """An in-process store that can be switched off (failure injection)."""

    unavailable = (ConnectionError,)

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("injected outage")

    def get(self, user_id: str) -> Profile:
        self._check()
        return super().get(user_id)

    def apply(self, user_id: str, delta: ProfileDelta) -> Profile:
        self._check()
        return super().apply(user_id, delta)

    def delete(self, user_id: str) -> None:
        self._check()
        super().delete(user_id)


def test_outage_serves_from_memory_and_replays_writes_in_order() -> None:
    primary, clock = Flaky(), FakeClock()
    store = FallbackProfileStore(primary, retry_after=5.0, clock=clock)
    store.apply("u1", ProfileDelta(interests={"music": 1.0}))
    assert not store.degraded

    primary.down = True
    assert store.get("u1").interests == {}  # the old state is on the unreachable server
    assert store.degraded
    store.apply("u1", ProfileDelta(negatives={"i9"}, interests={"news": 2.0}))
    store.apply("u2", ProfileDelta(blocked_creators={"c1"}))
    store.delete("u3")
    # the fallback answers with what was written during the outage
    assert store.get("u1").negatives == {"i9"}
    assert store.get("u2").blocked_creators == {"c1"}
    assert len(store.pending) == 3

    primary.down = False
    clock.now = 4.0  # not yet time to retry: still degraded, still the fallback
    assert store.degraded and store.get("u2").blocked_creators == {"c1"}
    clock.now = 5.0
    after = store.get("u1")
    assert not store.degraded and not store.pending
    # the outage's writes reached the primary on top of the state it kept
    assert after.interests == {"music": 1.0, "news": 2.0}
    assert after.negatives == {"i9"}
    assert primary.get("u2").blocked_creators == {"c1"}


def test_failed_retry_waits_again_and_keeps_the_queue() -> None:
    primary, clock = Flaky(), FakeClock()
    store = FallbackProfileStore(primary, retry_after=5.0, clock=clock)
    primary.down = True
    store.apply("u1", ProfileDelta(negatives={"i1"}))
    clock.now = 5.0
    store.apply("u1", ProfileDelta(negatives={"i2"}))  # the retry fails: queued behind the first
    assert store.degraded and [w[0] for w in store.pending] == ["u1", "u1"]
    primary.down = False
    clock.now = 9.0  # the failed retry at 5.0 set the next one to 10.0
    assert store.degraded
    clock.now = 10.0
    assert store.get("u1").negatives == {"i1", "i2"}


def test_queue_is_bounded_and_counts_what_it_dropped() -> None:
    primary = Flaky()
    primary.down = True
    store = FallbackProfileStore(primary, max_pending=2, clock=FakeClock())
    for i in range(5):
        store.apply("u", ProfileDelta(negatives={f"i{i}"}))
    assert len(store.pending) == 2 and store.dropped == 3


def test_other_errors_are_not_swallowed() -> None:
    class Broken(Flaky):
        def get(self, user_id: str) -> Profile:
            raise ValueError("a bug, not an outage")

    store = FallbackProfileStore(Broken(), clock=FakeClock())
    with pytest.raises(ValueError, match="a bug"):
        store.get("u1")
    assert not store.degraded


def test_unreachable_redis_falls_back_without_raising() -> None:
    # nothing listens on port 1: a real connection error, no server needed
    store = FallbackProfileStore(RedisProfileStore("redis://127.0.0.1:1/0"), clock=FakeClock())
    assert store.get("u1") == Profile("u1")
    assert store.apply("u1", ProfileDelta(negatives={"i1"})).negatives == {"i1"}
    assert store.degraded and len(store.pending) == 1
    store.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    prefix = f"test-fallback-{uuid.uuid4().hex[:8]}"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.services
def test_real_redis_outage_and_recovery(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    primary, clock = RedisProfileStore(redis_url), FakeClock()
    store = FallbackProfileStore(primary, retry_after=1.0, clock=clock)
    store.apply("u1", ProfileDelta(interests={"music": 1.0}))

    def refuse(*args: object, **kwargs: object) -> object:
        raise redis.ConnectionError("injected outage")

    with monkeypatch.context() as patch:
        patch.setattr(redis.client.Pipeline, "execute", refuse)
        patch.setattr(redis.Redis, "delete", refuse)
        store.apply("u1", ProfileDelta(negatives={"i7"}))
        store.delete("u2")
        assert store.degraded
    clock.now = 1.0
    profile = store.get("u1")
    assert not store.degraded
    assert profile.negatives == {"i7"} and profile.interests == {"music": 1.0}
    assert RedisProfileStore(redis_url).get("u1").negatives == {"i7"}
    store.close()
