"""Parquet export by UTC day and DuckDB SQL over it, with known day boundaries and counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ecorec.core.events import Event, EventType
from ecorec.data.eventlog import SQLiteEventLog
from ecorec.data.events import EVENT_SCHEMA
from ecorec.data.offline import OfflineEvents, export_parquet, query

JAN1 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0


def _events() -> list[Event]:
    """Jan 1: 3 events (first and last instants of the day), Jan 2: 2, Jan 4: 1 (none on 3)."""
    at = [
        ("a1", JAN1, "u1", EventType.IMPRESSION),
        ("a2", JAN1 + 12 * 3600, "u2", EventType.CLICK),
        ("a3", JAN1 + DAY - 0.001, "u1", EventType.CLICK),
        ("b1", JAN1 + DAY, "u2", EventType.IMPRESSION),  # midnight belongs to the new day
        ("b2", JAN1 + DAY + 60, "u1", EventType.CLICK),
        ("d1", JAN1 + 3 * DAY + 5, "u3", EventType.CLICK),
    ]
    return [Event(i, ts, u, t, item_id="i1", extra={"n": i}) for i, ts, u, t in at]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SQLiteEventLog]:
    log = SQLiteEventLog(tmp_path / "events.db")
    log.append(_events())
    yield log
    log.close()


def _per_day(out: Path) -> dict[str, int]:
    rows = query("SELECT strftime(day, '%Y-%m-%d') AS d, count(*) AS n FROM events GROUP BY d", out)
    return dict(zip(rows.column("d").to_pylist(), rows.column("n").to_pylist(), strict=True))


def test_export_partitions_by_utc_day(log: SQLiteEventLog, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    files = export_parquet(log, out)
    assert [f.relative_to(out).as_posix() for f in files] == [
        "day=2024-01-01/part-00000.parquet",
        "day=2024-01-02/part-00000.parquet",
        "day=2024-01-04/part-00000.parquet",
    ]
    assert pq.read_schema(files[0]).remove_metadata().equals(EVENT_SCHEMA)
    assert _per_day(out) == {"2024-01-01": 3, "2024-01-02": 2, "2024-01-04": 1}
    assert sorted(p.name for p in out.iterdir()) == [
        "day=2024-01-01",
        "day=2024-01-02",
        "day=2024-01-04",
    ]


def test_sql_over_partitions(log: SQLiteEventLog, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export_parquet(log, out)
    with OfflineEvents(out) as db:
        clicks = db.query(
            "SELECT user_id, count(*) AS n FROM events WHERE type = 'click' "
            "GROUP BY user_id ORDER BY user_id"
        )
        assert clicks.to_pylist() == [
            {"user_id": "u1", "n": 2},
            {"user_id": "u2", "n": 1},
            {"user_id": "u3", "n": 1},
        ]
        extra = db.query(
            "SELECT extra->>'n' AS n FROM events WHERE day = DATE '2024-01-02' ORDER BY ts"
        )
        assert extra.column("n").to_pylist() == ["b1", "b2"]
        kinds = db.query("SELECT typeof(day) AS t FROM events LIMIT 1").column("t")
        assert kinds.to_pylist() == ["DATE"]


def test_reexport_replaces_instead_of_duplicating(log: SQLiteEventLog, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export_parquet(log, out)
    export_parquet(log, out)
    assert _per_day(out) == {"2024-01-01": 3, "2024-01-02": 2, "2024-01-04": 1}
    # A late event for Jan 1; exporting a range inside Jan 1 rewrites the whole day.
    log.append([Event("a4", JAN1 + 100, "u9", EventType.CLICK, item_id="i2")])
    written = export_parquet(log, out, start=JAN1 + 3600, end=JAN1 + 7200)
    assert [f.parent.name for f in written] == ["day=2024-01-01"]
    assert _per_day(out) == {"2024-01-01": 4, "2024-01-02": 2, "2024-01-04": 1}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_reexport_drops_days_left_empty(log: SQLiteEventLog, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export_parquet(log, out)
    assert log.delete_user("u3") == 1  # the only event of Jan 4
    assert log.delete_user("u2") == 2
    export_parquet(log, out, start=JAN1 + 2 * DAY, end=JAN1 + 4 * DAY)
    assert _per_day(out) == {"2024-01-01": 3, "2024-01-02": 2}  # outside the range: kept
    export_parquet(log, out)
    assert _per_day(out) == {"2024-01-01": 2, "2024-01-02": 1}


def test_streams_in_small_batches_and_splits_files(log: SQLiteEventLog, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    files = export_parquet(log, out, batch_size=2, rows_per_file=2)
    names = sorted(f.relative_to(out).as_posix() for f in files)
    assert names == [
        "day=2024-01-01/part-00000.parquet",
        "day=2024-01-01/part-00001.parquet",
        "day=2024-01-02/part-00000.parquet",
        "day=2024-01-04/part-00000.parquet",
    ]
    assert [pq.read_metadata(f).num_rows for f in sorted(files)] == [2, 1, 2, 1]
    ids = query("SELECT event_id FROM events ORDER BY ts", out).column("event_id").to_pylist()
    assert ids == ["a1", "a2", "a3", "b1", "b2", "d1"]


def test_query_before_any_export(tmp_path: Path) -> None:
    table = query("SELECT count(*) AS n FROM events", tmp_path / "nothing-yet")
    assert table.to_pylist() == [{"n": 0}]
    with OfflineEvents(tmp_path) as db:
        names = db.query("SELECT * FROM events").column_names
    assert names == [*EVENT_SCHEMA.names, "day"]
