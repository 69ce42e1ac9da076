"""The contract every :class:`~ecorec.data.protocols.EventLog` backend passes.

Subclass :class:`EventLogContract` in a test module and provide two fixtures::

    class TestMyEventLog(EventLogContract):
        @pytest.fixture
        def log(self, tmp_path):          # a fresh, empty store; close it after the test
            log = MyEventLog(tmp_path / "db")
            yield log
            log.close()

        @pytest.fixture
        def reopen(self, tmp_path):       # a callable opening the same store again
            return lambda: MyEventLog(tmp_path / "db")

The tests check known answers on a small fixed set of events (:func:`sample_events`), so a
failure says which promise of the protocol broke: durability across reopen, idempotency by
``event_id``, all-or-nothing batches, half-open time filters, ``(ts, event_id)`` order.
Besides the protocol (``delete_user``, privacy erasure, included), backends must offer the
context-manager protocol and raise ``RuntimeError`` when used after ``close``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from ecorec.core.events import Event, EventType, EventValidationError
from ecorec.data.events import EVENT_SCHEMA, events_to_table, table_to_events

#: 2023-11-14T22:13:20Z: the base time of the sample events.
T0 = 1_700_000_000.0


def sample_events() -> list[Event]:
    """Twelve events covering every field, JSON ``extra`` (nested, unicode) and None values.

    They are deliberately not in time order, and ``e10a``/``e10b`` share a timestamp so the
    ``event_id`` tie-break of the scan order is checked.
    """
    return [
        Event("e03", T0 + 20, "u1", EventType.PLAY, item_id="i1", value=42.5),
        Event(
            "e01",
            T0,
            "u1",
            EventType.IMPRESSION,
            item_id="i1",
            request_id="r1",
            position=0,
            extra={"channel": "item_cf", "propensity": 0.25},
        ),
        Event("e02", T0 + 10, "u1", EventType.CLICK, item_id="i1", request_id="r1", position=0),
        Event(
            "e04",
            T0 + 30,
            "u2",
            EventType.IMPRESSION,
            ad_id="a1",
            request_id="r2",
            position=3,
            extra={"channel": "ads", "variant": "B"},
        ),
        Event("e05", T0 + 40, "u2", EventType.LIKE, item_id="i2", extra={}),
        Event("e06", T0 + 50, "u2", EventType.BLOCK_CREATOR, creator_id="c1"),
        Event(
            "e07",
            T0 + 60,
            "u3",
            EventType.CONVERSION,
            ad_id="a1",
            value=19.99,
            extra={"order_id": "o-1"},
        ),
        Event("e08", T0 + 70, "u3", EventType.SURVEY, value=9.0),
        Event("e10b", T0 + 80, "u3", EventType.CLICK, item_id="i3"),
        Event("e10a", T0 + 80, "u1", EventType.TIP, creator_id="c1", value=5.0),
        Event("e11", T0 + 90, "u4", EventType.RATING, item_id="i4", value=4.0),
        Event(
            "e12",
            T0 + 100.5,
            "u4",
            EventType.COMMENT,
            item_id="i4",
            extra={"text": "très bien ✓", "nested": {"a": [1, 2.5, None], "b": True}},
        ),
    ]


def ordered(events: list[Event]) -> list[Event]:
    """Events in scan order."""
    return sorted(events, key=lambda e: (e.ts, e.event_id))


def full(events: list[Event]) -> list[tuple[Event, Any]]:
    """Events paired with their ``extra`` (which ``Event.__eq__`` ignores)."""
    return [(e, e.extra) for e in events]


def many_events(n: int, prefix: str = "m", start: float = T0) -> list[Event]:
    """``n`` valid click events one millisecond apart, spread over 10 users."""
    return [
        Event(
            f"{prefix}{i:06d}",
            start + i / 1000,
            f"u{i % 10}",
            EventType.CLICK,
            item_id=f"i{i % 37}",
            position=i % 20,
            extra={"k": i} if i % 3 else None,
        )
        for i in range(n)
    ]


class EventLogContract:
    """Known-answer tests for an event log; subclasses provide ``log`` and ``reopen``."""

    def test_empty(self, log: Any) -> None:
        assert log.count() == 0
        assert list(log.scan()) == []
        assert list(log.scan_batches()) == []
        assert log.count_by_type() == {}

    def test_round_trip(self, log: Any) -> None:
        events = sample_events()
        assert log.append(events) == len(events)
        assert log.count() == len(events)
        assert full(list(log.scan())) == full(ordered(events))

    def test_scan_order_breaks_ties_by_event_id(self, log: Any) -> None:
        log.append(sample_events())
        ids = [e.event_id for e in log.scan()]
        assert ids == [
            "e01",
            "e02",
            "e03",
            "e04",
            "e05",
            "e06",
            "e07",
            "e08",
            "e10a",
            "e10b",
            "e11",
            "e12",
        ]

    def test_types_come_back_as_event_types(self, log: Any) -> None:
        log.append(sample_events())
        assert all(isinstance(e.type, EventType) for e in log.scan())

    def test_idempotent_across_batches(self, log: Any) -> None:
        events = sample_events()
        assert log.append(events) == 12
        assert log.append(events) == 0
        extra = Event("new", T0 + 5, "u9", EventType.CLICK, item_id="i9")
        assert log.append([*events[:3], extra]) == 1
        assert log.count() == 13

    def test_idempotent_within_batch_keeps_first(self, log: Any) -> None:
        first = Event("dup", T0, "u1", EventType.CLICK, item_id="i1")
        second = Event("dup", T0 + 1, "u2", EventType.CLICK, item_id="i2")
        other = Event("other", T0, "u1", EventType.CLICK, item_id="i1")
        assert log.append([first, second, other, first]) == 2
        assert log.count() == 2
        assert [e for e in log.scan() if e.event_id == "dup"] == [first]

    def test_invalid_event_stores_nothing(self, log: Any) -> None:
        good = sample_events()[:2]
        bad = Event("bad", T0, "u1", EventType.PLAY, item_id="i1")  # play needs value
        with pytest.raises(EventValidationError, match="row 2") as err:
            log.append([*good, bad])
        assert err.value.field == "value"
        assert log.count() == 0

    def test_invalid_table_stores_nothing(self, log: Any) -> None:
        table = events_to_table(sample_events())
        types = table.column("type").to_pylist()
        types[1] = "teleport"
        table = table.set_column(3, "type", pa.array(types, pa.string()))
        with pytest.raises(EventValidationError, match="row 1.*teleport") as err:
            log.append(table)
        assert err.value.field == "type"
        assert log.count() == 0

    def test_time_range_is_half_open(self, log: Any) -> None:
        log.append(sample_events())
        assert log.count(start=T0 + 10, end=T0 + 40) == 3
        assert [e.event_id for e in log.scan(start=T0 + 10, end=T0 + 40)] == ["e02", "e03", "e04"]
        assert log.count(start=T0 + 80) == 4
        assert log.count(end=T0 + 80) == 8
        assert log.count(start=T0 + 80, end=T0 + 80) == 0

    def test_user_and_type_filters(self, log: Any) -> None:
        log.append(sample_events())
        assert [e.event_id for e in log.scan(user_id="u1")] == ["e01", "e02", "e03", "e10a"]
        assert log.count(user_id="nobody") == 0
        assert [e.event_id for e in log.scan(types=["click"])] == ["e02", "e10b"]
        assert log.count(types={EventType.CLICK, EventType.IMPRESSION}) == 4
        assert [
            e.event_id for e in log.scan(user_id="u3", types=["click", "survey"], start=T0 + 70)
        ] == ["e08", "e10b"]
        assert log.count(types=[]) == 0
        assert list(log.scan(types=[])) == []

    def test_unknown_type_filter_is_an_error(self, log: Any) -> None:
        with pytest.raises(ValueError):
            log.count(types=["teleport"])
        with pytest.raises(ValueError):
            log.scan(types=["teleport"])

    def test_scan_batches_schema_sizes_and_order(self, log: Any) -> None:
        events = sample_events()
        log.append(events)
        batches = list(log.scan_batches(batch_size=5))
        assert [b.num_rows for b in batches] == [5, 5, 2]
        assert all(b.schema.equals(EVENT_SCHEMA) for b in batches)
        table = pa.concat_tables(batches)
        assert full(table_to_events(table)) == full(ordered(events))
        assert [b.num_rows for b in log.scan_batches(user_id="u1", batch_size=3)] == [3, 1]
        assert list(log.scan_batches(start=T0 + 1000)) == []

    def test_scan_batches_rejects_bad_batch_size(self, log: Any) -> None:
        with pytest.raises(ValueError):
            log.scan_batches(batch_size=0)

    def test_count_by_type(self, log: Any) -> None:
        log.append(sample_events())
        expected = Counter(e.type.value for e in sample_events())
        assert log.count_by_type() == dict(expected)
        assert log.count_by_type()["click"] == 2

    def test_stored_names_the_ids_already_in_the_log(self, log: Any) -> None:
        events = sample_events()
        log.append(events[:3])
        ids = [e.event_id for e in events]
        assert log.stored(ids) == {e.event_id for e in events[:3]}
        assert log.stored([]) == set()
        assert log.stored(["nope", ids[0], ids[0]]) == {ids[0]}
        many = [f"m{k}" for k in range(1_200)]  # past one lookup's bound parameters
        log.append([Event(i, T0, "u9", EventType.CLICK, item_id="i1") for i in many[::2]])
        assert log.stored(many) == set(many[::2])

    def test_delete_user(self, log: Any) -> None:
        log.append(sample_events())
        assert log.delete_user("u1") == 4
        assert log.count(user_id="u1") == 0
        assert log.count() == 8
        assert log.delete_user("u1") == 0
        assert log.delete_user("nobody") == 0
        # An erased event may be sent again (e.g. a late retry) and is stored again.
        assert log.append(sample_events()[:1]) == 1

    def test_table_input_equals_list_input(self, log: Any) -> None:
        events = sample_events()
        assert log.append(events_to_table(events)) == len(events)
        assert full(list(log.scan())) == full(ordered(events))
        assert log.append(events) == 0

    def test_table_with_only_required_columns(self, log: Any) -> None:
        table = pa.table(
            {"event_id": ["s1"], "ts": [T0], "user_id": ["u1"], "type": ["survey"], "value": [7]}
        )
        assert log.append(table) == 1
        assert next(log.scan()) == Event("s1", T0, "u1", EventType.SURVEY, value=7.0)

    def test_large_batch(self, log: Any) -> None:
        events = many_events(3_000)
        assert log.append([*events, *events[:100]]) == 3_000
        assert log.append(events_to_table(many_events(3_500))) == 500
        assert log.count() == 3_500
        assert log.count(user_id="u3") == 350
        sizes = [b.num_rows for b in log.scan_batches(batch_size=1_000)]
        assert sizes == [1_000, 1_000, 1_000, 500]
        assert full(list(log.scan(start=T0, end=T0 + 0.05))) == full(events[:50])

    def test_append_while_scanning(self, log: Any) -> None:
        log.append(many_events(1_000))
        batches = log.scan_batches(batch_size=100)
        first = next(batches)
        assert log.append(many_events(10, prefix="late", start=T0 + 100)) == 10
        rest = sum(b.num_rows for b in batches)
        assert first.num_rows + rest in (1_000, 1_010)
        assert log.count() == 1_010

    def test_concurrent_appends(self, log: Any) -> None:
        errors: list[BaseException] = []

        def writer(k: int) -> None:
            try:
                for b in range(5):
                    log.append(many_events(40, prefix=f"t{k}-{b}-"))
            except BaseException as err:  # surfaced in the main thread below
                errors.append(err)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert log.count() == 4 * 5 * 40

    def test_persists_across_reopen(self, log: Any, reopen: Callable[[], Any]) -> None:
        events = sample_events()
        log.append(events)
        log.close()
        with reopen() as again:
            assert again.count() == len(events)
            assert full(list(again.scan())) == full(ordered(events))
            assert again.append(events) == 0

    def test_closed_log_refuses_work(self, log: Any, reopen: Callable[[], Any]) -> None:
        with reopen() as other:
            assert other.count() == 0
        with pytest.raises(RuntimeError):
            other.count()
        with pytest.raises(RuntimeError):
            other.append(sample_events())
        other.close()  # closing twice is harmless
