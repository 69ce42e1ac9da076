"""The outbox keeps events across restarts, in order, until they are removed."""

from __future__ import annotations

import threading

import pytest

from ecorec.core.events import Event, EventType
from ecorec.data.outbox import Outbox, decode_event, encode_event


def _events(n: int, start: int = 0) -> list[Event]:
    return [
        Event(f"e{i}", 1000.0 + i, f"u{i % 3}", EventType.CLICK, item_id=f"i{i}", position=i)
        for i in range(start, start + n)
    ]


def test_encoding_round_trips_every_field() -> None:
    event = Event(
        "e1", 1.5, "u1", EventType.CONVERSION, item_id="i1", ad_id="a1", creator_id="c1",
        request_id="r1", position=3, value=9.99, extra={"order_id": "o1", "n": [1, 2]},
    )  # fmt: skip
    back = decode_event(encode_event(event))
    assert back == event
    assert back.extra == {"order_id": "o1", "n": [1, 2]}
    with pytest.raises(ValueError, match="11 columns"):
        decode_event(b'["e1"]')


def test_survives_reopen_in_order(tmp_path) -> None:
    path = tmp_path / "box" / "outbox.db"
    with Outbox(path) as box:
        box.put(_events(3))
        box.put(_events(2, start=3))
    with Outbox(path) as box:
        assert box.pending() == 5
        rows = box.peek(10)
        assert [e.event_id for _, e in rows] == ["e0", "e1", "e2", "e3", "e4"]
        assert [i for i, _ in rows] == sorted(i for i, _ in rows)
        assert [e.event_id for _, e in box.peek(2)] == ["e0", "e1"]


def test_remove_only_named_rows_and_persist(tmp_path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        box.put(_events(4))
        ids = [i for i, _ in box.peek(4)]
        box.remove([ids[0], ids[2], 999_999])
        assert [e.event_id for _, e in box.peek(10)] == ["e1", "e3"]
    with Outbox(path) as box:
        assert box.pending() == 2
        box.put(_events(1, start=9))
        # New rows go after the survivors, whatever ids were freed.
        assert [e.event_id for _, e in box.peek(10)] == ["e1", "e3", "e9"]


def test_bad_batch_writes_nothing(tmp_path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        bad = Event("x", 1.0, "u", EventType.CLICK, item_id="i", extra={"f": object()})
        with pytest.raises(ValueError, match="extra is not JSON"):
            box.put([*_events(2), bad])
        assert box.pending() == 0


def test_concurrent_puts_lose_nothing(tmp_path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        threads = [
            threading.Thread(target=box.put, args=(_events(50, start=t * 50),)) for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(e.event_id for _, e in box.peek(1000)) == sorted(f"e{i}" for i in range(200))


def test_closed_and_bad_arguments(tmp_path) -> None:
    box = Outbox(tmp_path / "o.db")
    with pytest.raises(ValueError, match="limit"):
        box.peek(0)
    box.close()
    box.close()
    with pytest.raises(RuntimeError, match="closed"):
        box.pending()
    with pytest.raises(ValueError, match="empty"):
        Outbox("")
