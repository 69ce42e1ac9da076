"""The nearline stream end to end: outbox -> relay -> transport -> consumer -> stats.

In-process tests run everywhere; ``services`` tests use the real NATS JetStream server at
127.0.0.1:4222 with a unique stream, subject and durable per test, deleted at teardown. The
reconnect test runs a private ``nats-server`` so it can stop and restart it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from ecorec.core.events import Event, EventType
from ecorec.data.nearline import ArmTally, NearlineStats
from ecorec.data.outbox import Outbox
from ecorec.data.stream import Nearline, Relay, StreamUnavailable, open_stream
from ecorec.data.stream.nats import JetStreamStream, JetStreamTarget

NATS = "nats://127.0.0.1:4222"
CREATORS = {"i0": "c0", "i1": "c1", "i2": "c0"}


def _events(n: int, prefix: str = "e") -> list[Event]:
    return [
        Event(f"{prefix}{i}", 100.0 + i, f"u{i % 4}", EventType.CLICK, item_id=f"i{i % 3}")
        for i in range(n)
    ]


def _bandit_pair(request: str) -> list[Event]:
    return [
        Event(f"{request}-imp", 50.0, "u1", EventType.IMPRESSION, item_id="i0",
              request_id=request, extra={"policy": "ts", "arm": "i0"}),
        Event(f"{request}-clk", 51.0, "u1", EventType.CLICK, item_id="i0", request_id=request),
    ]  # fmt: skip


def _clicks(stats: NearlineStats) -> dict[str, int]:
    return {i: stats.item_stats(i).get("click", 0) for i in ("i0", "i1", "i2")}


@pytest.fixture
def stats(tmp_path) -> Iterator[NearlineStats]:
    store = NearlineStats(f"sqlite:///{tmp_path / 'stats.db'}")
    yield store
    store.close()


# --- in process ---------------------------------------------------------------------------


def test_in_process_end_to_end(tmp_path, stats) -> None:
    rewards: list[tuple[str, str, float]] = []

    def listener(policy: str, arm: str, reward: float) -> None:
        rewards.append((policy, arm, reward))

    with Nearline.open("", tmp_path / "outbox.db", stats, CREATORS.get, listener) as line:
        line.publish(_events(9))
        line.publish(_bandit_pair("r1"))
        assert line.flush(10.0)
        assert line.pending == 0 and not line.degraded
        line.publish(_events(9) + _bandit_pair("r1"))  # everything again: at least once
        assert line.flush(10.0)
    assert _clicks(stats) == {"i0": 4, "i1": 3, "i2": 3}
    assert stats.creator_stats("c0") == {"click": 7, "impression": 1}
    assert stats.bandit_tallies() == [ArmTally("ts", "i0", 1, 1)]
    assert rewards == [("ts", "i0", 0.0), ("ts", "i0", 1.0)]  # the decision, then its click


def test_events_of_erased_users_are_dropped(tmp_path, stats) -> None:
    erased = {"r1": "u1"}  # u1 asked for erasure while their events were still queued

    def deleted_among(user_ids) -> set[str]:
        return set(user_ids) & set(erased.values())

    with Nearline.open("", tmp_path / "o.db", stats, deleted_among=deleted_among) as line:
        line.publish(_bandit_pair("r1") + _events(4))
        assert line.flush(10.0)
    assert stats.bandit_tallies() == []  # no decision row naming u1 was created
    assert _clicks(stats) == {"i0": 2, "i1": 0, "i2": 1}  # e1 (u1, on i1) dropped


def test_handler_failure_keeps_events_in_the_outbox(tmp_path, stats) -> None:
    calls = {"n": 0}

    def flaky(events: list[Event]) -> None:
        calls["n"] += 1
        stats.handle(events)  # applied, then "crash" before the stream hears of it
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")

    outbox = Outbox(tmp_path / "o.db")
    stream = open_stream("memory://", flaky)
    relay = Relay(outbox, stream, min_backoff=0.01, max_backoff=0.05).start()
    try:
        outbox.put(_events(5))
        relay.notify()
        assert relay.flush(10.0)
        assert relay.healthy
    finally:
        relay.close()
        stream.close()
        outbox.close()
    assert calls["n"] == 2  # retried from the outbox
    assert _clicks(stats) == {"i0": 2, "i1": 2, "i2": 1}  # applied once


class _DownThenUp:
    """A transport that refuses ``failures`` publishes, then hands events to ``sink``."""

    def __init__(self, failures: int, sink: list[Event]) -> None:
        self.failures = failures
        self.sink = sink

    def publish(self, events) -> None:
        if self.failures:
            self.failures -= 1
            raise StreamUnavailable("down")
        self.sink.extend(events)

    def caught_up(self) -> bool:
        return True

    def close(self) -> None:
        pass


def test_relay_backs_off_then_delivers_in_order(tmp_path) -> None:
    got: list[Event] = []
    outbox = Outbox(tmp_path / "o.db")
    relay = Relay(outbox, _DownThenUp(3, got), batch=4, min_backoff=0.01, max_backoff=0.02)
    outbox.put(_events(10))
    relay.start()
    try:
        assert relay.flush(10.0)
    finally:
        relay.close()
    assert [e.event_id for e in got] == [f"e{i}" for i in range(10)]
    assert relay.healthy and relay.last_error is None
    assert outbox.pending() == 0
    outbox.close()


def test_open_stream_rejects_bad_urls() -> None:
    with pytest.raises(ValueError, match="unknown stream URL"):
        open_stream("kafka://x", print)
    with pytest.raises(ValueError, match="needs a handler"):
        open_stream("memory://", None)
    with pytest.raises(ValueError, match="unknown stream URL parameter"):
        JetStreamTarget.parse("nats://h:4222?streem=x")
    with pytest.raises(ValueError, match="stream must be"):
        JetStreamTarget.parse("nats://h?stream=a.b")
    target = JetStreamTarget.parse("nats://h?stream=S1&subject=a.b&durable=d-1")
    assert target == JetStreamTarget("nats://h:4222", "S1", "a.b", "d-1")


# --- NATS JetStream -----------------------------------------------------------------------


def _unique_url(server: str = NATS) -> str:
    tag = uuid.uuid4().hex[:12]
    return f"{server}?stream=T{tag}&subject=test.{tag}&durable=d{tag}"


async def _info(url: str) -> tuple[int, int, int, int]:
    """Messages ever stored, messages left, redeliveries, and acks pending."""
    import nats

    target = JetStreamTarget.parse(url)
    nc = await nats.connect(target.server)
    try:
        js = nc.jetstream()
        stream = await js.stream_info(target.stream)
        consumer = await js.consumer_info(target.stream, target.durable)
        state = stream.state
        return state.last_seq, state.messages, consumer.num_redelivered, consumer.num_ack_pending
    finally:
        await nc.close()


async def _delete(url: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    target = JetStreamTarget.parse(url)
    nc = await nats.connect(target.server)
    try:
        await nc.jetstream().delete_stream(target.stream)
    except NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture
def nats_url() -> Iterator[str]:
    url = _unique_url()
    yield url
    asyncio.run(_delete(url))


@pytest.mark.services
def test_nats_dedupes_and_acks(tmp_path, stats, nats_url) -> None:
    delivered: list[str] = []

    def record(events: list[Event]) -> None:
        delivered.extend(e.event_id for e in events)
        stats.handle(events, CREATORS.get)

    stream = JetStreamStream(nats_url, record).start()
    try:
        stream.publish(_events(6))
        stream.publish(_events(6))  # same ids: the server drops them
        outbox = Outbox(tmp_path / "o.db")
        relay = Relay(outbox, stream).start()
        assert relay.flush(15.0)
        relay.close()
        outbox.close()
        stored, left, redelivered, ack_pending = asyncio.run(_info(nats_url))
    finally:
        stream.close()
    assert stored == 6  # the second publish of the same ids was dropped by the server
    assert left == 0  # work-queue retention: an acked message is deleted
    assert sorted(delivered) == sorted(f"e{i}" for i in range(6))  # each once: acked
    assert redelivered == 0 and ack_pending == 0  # every message acked by the server
    assert _clicks(stats) == {"i0": 2, "i1": 2, "i2": 2}


@pytest.mark.services
def test_nats_redelivers_after_a_failed_handler(stats, nats_url, tmp_path) -> None:
    delivered: list[str] = []

    def crash_once(events: list[Event]) -> None:
        delivered.extend(e.event_id for e in events)
        stats.handle(events, CREATORS.get)
        if len(delivered) == len(events):  # the first delivery applies, then fails to ack
            raise RuntimeError("crash after commit")

    with Nearline(Outbox(tmp_path / "o.db"), stats) as line:
        line.stream = JetStreamStream(nats_url, crash_once).start()
        line.relay = Relay(line.outbox, line.stream).start()
        line.publish(_events(4) + _bandit_pair("r9"))
        assert line.flush(15.0)
        stored, left, _, ack_pending = asyncio.run(_info(nats_url))
    assert (stored, left, ack_pending) == (6, 0, 0)
    assert len(delivered) > 6  # the nak-ed first batch came again, then was acked
    assert set(delivered) == {f"e{i}" for i in range(4)} | {"r9-imp", "r9-clk"}
    assert _clicks(stats) == {"i0": 3, "i1": 1, "i2": 1}  # applied once
    assert stats.bandit_tallies() == [ArmTally("ts", "i0", 1, 1)]


@pytest.mark.services
def test_nats_down_goes_to_outbox_then_drains(tmp_path, stats, nats_url) -> None:
    outbox_path = tmp_path / "outbox.db"
    with Nearline.open("nats://127.0.0.1:1", outbox_path, stats, CREATORS.get) as line:
        line.publish(_events(10))  # returns: the events are on disk
        deadline = time.monotonic() + 10
        while not line.degraded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert line.degraded
        line.publish(_events(3, prefix="late"))
        assert line.pending == 13
        assert not line.flush(0.2)
    assert _clicks(stats) == {"i0": 0, "i1": 0, "i2": 0}
    with Nearline.open(nats_url, outbox_path, stats, CREATORS.get) as line:
        assert line.flush(15.0)
        assert line.pending == 0 and not line.degraded
    assert _clicks(stats) == {"i0": 5, "i1": 4, "i2": 4}  # every event exactly once


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int, store: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.02)
    server.kill()
    raise RuntimeError("private nats-server did not start")


@pytest.mark.services
@pytest.mark.skipif(shutil.which("nats-server") is None, reason="needs the nats-server binary")
def test_consumer_resumes_after_server_restart(tmp_path, stats) -> None:
    port = _free_port()
    store = str(tmp_path / "js")
    server = _start_server(port, store)
    try:
        with Nearline.open(
            _unique_url(f"nats://127.0.0.1:{port}"), tmp_path / "o.db", stats
        ) as line:
            line.publish(_events(3))
            assert line.flush(15.0)
            server.terminate()
            server.wait(10)
            line.publish(_events(6)[3:])
            deadline = time.monotonic() + 10
            while not line.degraded and time.monotonic() < deadline:
                time.sleep(0.01)
            assert line.degraded and line.pending == 3
            server = _start_server(port, store)  # same store: the stream and consumer persist
            assert line.flush(20.0)
            assert not line.degraded
    finally:
        server.terminate()
        server.wait(10)
    assert _clicks(stats) == {"i0": 2, "i1": 2, "i2": 2}
