"""EventLog backends against the shared contract, plus backend-specific promises."""

from __future__ import annotations

import math
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from ecorec.core.events import Event, EventType, EventValidationError, validate_event
from ecorec.data.eventlog import PostgresEventLog, SQLiteEventLog
from ecorec.data.events import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    VECTORIZED_MIN_ROWS,
    events_to_table,
    table_to_events,
    validate_table,
)
from ecorec.testing.eventlog import T0, EventLogContract, full, sample_events

PG_URL = os.environ.get("ECOREC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


# --- the columnar form -------------------------------------------------------------------


def test_schema_columns() -> None:
    assert EVENT_COLUMNS == (
        "event_id",
        "ts",
        "user_id",
        "type",
        "item_id",
        "ad_id",
        "creator_id",
        "request_id",
        "position",
        "value",
        "extra",
    )
    assert EVENT_SCHEMA.field("position").type == pa.int32()


def test_table_round_trip_keeps_every_field() -> None:
    events = sample_events()
    table = events_to_table(events)
    assert table.schema.equals(EVENT_SCHEMA)
    assert table.column("extra")[1].as_py() == '{"channel":"item_cf","propensity":0.25}'
    assert full(table_to_events(table)) == full(events)
    assert validate_table(table).equals(table)


# Padding with valid rows pushes a table past VECTORIZED_MIN_ROWS, so both validation paths
# (row by row for small tables, pyarrow.compute for large ones) meet the same bad rows.
PADS = [0, VECTORIZED_MIN_ROWS]
VALID = {"event_id": "p", "ts": T0, "user_id": "u", "type": "click", "item_id": "i"}


def _bad(pad: int = 0, **columns: list[object]) -> pa.Table:
    base: dict[str, list[object]] = {
        "event_id": ["a", "b", "c"],
        "ts": [T0, T0, T0],
        "user_id": ["u", "u", "u"],
        "type": ["click", "click", "click"],
        "item_id": ["i", "i", "i"],
    }
    base.update(columns)
    padded = {name: [*values, *([VALID.get(name)] * pad)] for name, values in base.items()}
    padded["event_id"][3:] = [f"p{k}" for k in range(pad)]
    return pa.table(padded)


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize(
    ("columns", "field", "row"),
    [
        ({"type": ["click", "click", "teleport"]}, "type", 2),
        ({"type": ["click", None, "click"]}, "type", 1),
        ({"event_id": ["a", "", "c"]}, "event_id", 1),
        ({"user_id": [None, "u", "u"]}, "user_id", 0),
        ({"ts": [T0, math.nan, T0]}, "ts", 1),
        ({"ts": [T0, None, T0]}, "ts", 1),
        ({"ts": [T0, T0, -1.0]}, "ts", 2),
        ({"ts": [T0, math.inf, T0]}, "ts", 1),
        ({"type": ["click", "play", "click"]}, "value", 1),
        ({"type": ["click", "click", "tip"]}, "creator_id", 2),
        ({"item_id": [None, "i", "i"]}, "item_id", 0),
        ({"type": ["survey"] * 3, "value": [1.0, 11.0, 2.0]}, "value", 1),
        ({"type": ["tip"] * 3, "creator_id": ["c"] * 3, "value": [1.0, 2.0, -3.0]}, "value", 2),
        ({"value": [1.0, math.inf, 2.0]}, "value", 1),
        ({"position": [0, -1, 2]}, "position", 1),
        ({"extra": [None, '{"a": 1}', "[1, 2]"]}, "extra", 2),
        ({"extra": ["not json", None, None]}, "extra", 0),
    ],
)
def test_validate_table_names_row_and_field(
    columns: dict[str, list[object]], field: str, row: int, pad: int
) -> None:
    with pytest.raises(EventValidationError, match=f"row {row}") as err:
        validate_table(_bad(pad, **columns))
    assert err.value.field == field


def test_valid_padding_is_valid() -> None:
    assert validate_table(_bad(VECTORIZED_MIN_ROWS)).num_rows == VECTORIZED_MIN_ROWS + 3


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize(
    "event",
    [
        Event("a", T0, "u", EventType.PLAY, item_id="i"),
        Event("a", T0, "u", EventType.PLAY, item_id="i", value=-1.0),
        Event("a", T0, "u", EventType.BLOCK_CREATOR),
        Event("a", T0, "u", EventType.IMPRESSION),
        Event("a", T0, "u", EventType.CONVERSION, ad_id="x", value=-2.0),
        Event("a", T0, "u", EventType.SURVEY, value=10.5),
        Event("a", T0, "u", EventType.RATING, value=3.0),
        Event("a", T0, "u", EventType.CLICK, item_id="i", position=-2),
        Event("a", -5.0, "u", EventType.CLICK, item_id="i"),
        Event("a", T0, "", EventType.CLICK, item_id="i"),
    ],
)
def test_validate_table_agrees_with_validate_event(event: Event, pad: int) -> None:
    with pytest.raises(EventValidationError) as by_event:
        validate_event(event)
    padding = [Event(f"p{k}", T0, "u", EventType.CLICK, item_id="i") for k in range(pad)]
    with pytest.raises(EventValidationError, match="row 0") as by_table:
        validate_table(events_to_table([event, *padding]))
    assert by_event.value.field == by_table.value.field


def test_validate_table_rejects_unknown_and_missing_columns() -> None:
    with pytest.raises(EventValidationError, match="colour") as err:
        validate_table(_bad().append_column("colour", pa.array(["r", "g", "b"])))
    assert err.value.field == "colour"
    with pytest.raises(EventValidationError, match="user_id"):
        validate_table(_bad().drop_columns("user_id"))
    twice = _bad()
    twice = twice.append_column("user_id", twice.column("user_id"))
    with pytest.raises(EventValidationError, match="twice"):
        validate_table(twice)
    with pytest.raises(EventValidationError, match="ts") as err:
        validate_table(_bad(ts=["yesterday", "today", "now"]))
    assert err.value.field == "ts"


def test_validate_table_casts_compatible_types() -> None:
    table = pa.table(
        {
            "event_id": pa.array(["a"], pa.large_string()),
            "ts": pa.array([1_700_000_000], pa.int64()),
            "user_id": pa.array(["u"]).dictionary_encode(),
            "type": ["click"],
            "ad_id": ["x"],
            "position": pa.array([3], pa.int64()),
        }
    )
    out = validate_table(table)
    assert out.schema.equals(EVENT_SCHEMA)
    assert table_to_events(out) == [Event("a", 1.7e9, "u", EventType.CLICK, ad_id="x", position=3)]


def test_extra_must_be_json_serializable() -> None:
    bad = Event("x", T0, "u", EventType.CLICK, item_id="i", extra={"when": object()})
    with pytest.raises(EventValidationError, match="row 0") as err:
        events_to_table([bad])
    assert err.value.field == "extra"


# --- SQLite --------------------------------------------------------------------------------


class TestSQLiteEventLog(EventLogContract):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "ecorec.db"

    @pytest.fixture
    def log(self, path: Path) -> Iterator[SQLiteEventLog]:
        log = SQLiteEventLog(path)
        yield log
        log.close()

    @pytest.fixture
    def reopen(self, path: Path) -> Callable[[], SQLiteEventLog]:
        return lambda: SQLiteEventLog(path)

    def test_wal_and_full_sync(self, log: SQLiteEventLog) -> None:
        conn = log._writer()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0

    def test_shares_file_with_other_tables(self, path: Path) -> None:
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY)")
            other.execute("INSERT INTO users VALUES ('u1')")
        other.close()
        with SQLiteEventLog(path) as log:
            assert log.append(sample_events()) == 12
            log.delete_user("u1")
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT count(*) FROM users").fetchone()[0] == 1
            tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
        other.close()
        assert {"users", "events", "events_ts_idx", "events_user_ts_idx"} <= tables

    def test_memory_is_refused(self) -> None:
        with pytest.raises(ValueError, match="durable"):
            SQLiteEventLog(":memory:")

    def test_a_second_process_reader_sees_committed_batches(
        self, log: SQLiteEventLog, reopen: Callable[[], SQLiteEventLog]
    ) -> None:
        with reopen() as reader:
            log.append(sample_events())
            assert reader.count() == 12


# --- PostgreSQL ----------------------------------------------------------------------------


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh random schema, dropped after the test."""
    name = f"ecorec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.services
class TestPostgresEventLog(EventLogContract):
    @pytest.fixture
    def dsn(self, pg_schema: str) -> str:
        return _with_schema(PG_URL, pg_schema)

    @pytest.fixture
    def log(self, dsn: str) -> Iterator[PostgresEventLog]:
        log = PostgresEventLog(dsn)
        yield log
        log.close()

    @pytest.fixture
    def reopen(self, dsn: str) -> Callable[[], PostgresEventLog]:
        return lambda: PostgresEventLog(dsn)

    def test_tables_live_in_the_chosen_schema(self, log: PostgresEventLog, pg_schema: str) -> None:
        log.append(sample_events())
        with psycopg.connect(PG_URL) as admin:
            schemas = admin.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'"
                " AND table_schema = %s",
                (pg_schema,),
            ).fetchall()
            stored = admin.execute(f'SELECT count(*) FROM "{pg_schema}".events').fetchone()
        assert schemas == [(pg_schema,)]
        assert stored == (12,)

    def test_missing_schema_is_created(self) -> None:
        name = f"ecorec_test_{uuid.uuid4().hex[:12]}"
        try:
            with PostgresEventLog(_with_schema(PG_URL, name)) as log:
                assert log.append(sample_events()) == 12
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def test_copy_and_executemany_paths_agree(self, dsn: str) -> None:
        events = sample_events()
        with PostgresEventLog(dsn, copy_threshold=1) as log:
            assert log.append([*events, events[0]]) == 12
            assert full(list(log.scan())) == full(sorted(events, key=lambda e: (e.ts, e.event_id)))
            assert log.append(events_to_table(events)) == 0

    def test_reconnects_after_the_server_drops_it(self, log: PostgresEventLog) -> None:
        log.append(sample_events()[:2])
        pid = log._conn.info.backend_pid
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert log.append(sample_events()) == 10
        assert log.count() == 12

    def test_synchronous_commit_is_on(self, log: PostgresEventLog) -> None:
        assert log._conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
