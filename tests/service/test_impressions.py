"""ImpressionWriter: batched off the request path, bounded, failures counted, flushed on close."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecorec.core.events import Event, EventType
from ecorec.data.eventlog import SQLiteEventLog
from ecorec.service.impressions import ImpressionWriter


def slate(request: str, n: int = 5) -> list[Event]:
    return [
        Event(f"{request}:{k}", 100.0 + k, "u1", EventType.IMPRESSION, f"i{k}", request_id=request)
        for k in range(n)
    ]


def test_batches_reach_the_log_and_the_stream(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "e.db")
    published: list[list[str]] = []

    def publish(events: Sequence[Event]) -> None:
        published.append([e.event_id for e in events])

    writer = ImpressionWriter(log, publish, flush_ms=200)
    for k in range(20):
        writer.put(slate(f"r{k}"))
    assert writer.flush(10.0)
    assert log.count() == 100
    assert sum(len(b) for b in published) == 100
    assert len(published) < 20  # gathered, not one write per slate
    writer.put(slate("last"))
    writer.close()  # what is queued is written before the thread stops
    assert log.count() == 105
    log.close()


def test_a_full_queue_drops_the_oldest_and_failures_are_counted(tmp_path: Path) -> None:
    lost: list[int] = []

    class Broken:
        def append(self, events: Sequence[Event]) -> int:
            raise OSError("disk full")

    writer = ImpressionWriter(
        Broken(), None, flush_ms=10_000, max_pending=8, on_failure=lost.append
    )  # type: ignore[arg-type]
    writer.put(slate("a"))
    writer.put(slate("b"))  # 10 queued, 8 kept
    assert lost == [2]
    writer.close()  # the write of the 8 fails: counted, not raised
    assert lost == [2, 8]


def test_a_failing_stream_loses_nothing_in_the_log(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "e.db")

    def publish(events: Sequence[Event]) -> None:
        raise RuntimeError("outbox unavailable")

    writer = ImpressionWriter(log, publish, flush_ms=1)
    writer.put(slate("r"))
    assert writer.flush(10.0)
    writer.close()
    assert log.count() == 5
    log.close()
