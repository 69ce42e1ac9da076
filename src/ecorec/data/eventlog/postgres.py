"""The production event log: a PostgreSQL table written with psycopg 3.

Why these choices:

- Each append is one transaction committed with ``synchronous_commit = on`` (set for the
  session, whatever the server default), so an acknowledged batch is in the server's WAL on disk.
- Big batches go through binary ``COPY`` into a session temp table, then one
  ``INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING``: COPY is the fastest way in, and
  the conflict clause keeps the log idempotent. Small batches use ``executemany`` (pipelined by
  psycopg), which costs less than the extra round trips of staging.
- ``event_id`` and ``user_id`` use the ``"C"`` collation so ``ORDER BY ts, event_id`` gives the
  same byte order as SQLite, Python and Arrow, whatever the database's locale.
- Scans run on their own read-only connection in one transaction with a server-side cursor:
  a consistent snapshot, streamed ``batch_size`` rows at a time, without holding the writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
from psycopg import sql

from ecorec.core.events import Event
from ecorec.data.eventlog._sql import (
    COLUMNS_SQL,
    ORDER_SQL,
    EventLogBase,
    check_batch_size,
    prepare_rows,
    unique_rows,
    where_clause,
)
from ecorec.data.events import EVENT_COLUMNS, Row

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        event_id text COLLATE "C" PRIMARY KEY,
        ts double precision NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        type text NOT NULL,
        item_id text,
        ad_id text,
        creator_id text,
        request_id text,
        position integer,
        value double precision,
        extra text
    )""",
    "CREATE INDEX IF NOT EXISTS events_ts_idx ON events (ts, event_id)",
    "CREATE INDEX IF NOT EXISTS events_user_ts_idx ON events (user_id, ts, event_id)",
)
_STAGE = "ecorec_events_stage"
_PG_TYPES = [
    "text",
    "float8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int4",
    "float8",
    "text",
]
_INSERT = (
    f"INSERT INTO events ({COLUMNS_SQL}) VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)
_COPY = f"COPY {_STAGE} ({COLUMNS_SQL}) FROM STDIN (FORMAT BINARY)"
_FROM_STAGE = (
    f"INSERT INTO events ({COLUMNS_SQL}) SELECT {COLUMNS_SQL} FROM {_STAGE} "
    "ON CONFLICT (event_id) DO NOTHING"
)
_T = TypeVar("_T")
# Serializes concurrent first-time schema creation (CREATE ... IF NOT EXISTS can still race).
_SCHEMA_LOCK_KEY = 0x6563_6F72_6563  # "ecorec"


def _search_path_schema(search_path: str) -> str | None:
    """Return the first explicit schema of a ``search_path`` setting, unquoted, or None."""
    for part in search_path.split(","):
        name = part.strip()
        if name.startswith('"') and name.endswith('"') and len(name) >= 2:
            name = name[1:-1].replace('""', '"')
        if name and name not in ("$user", "pg_temp", "pg_catalog"):
            return name
    return None


class PostgresEventLog(EventLogBase):
    """Durable, idempotent event log in a PostgreSQL table named ``events``.

    The schema is chosen the libpq way, through ``search_path`` in the URL, so tests and tenants
    can be isolated without any ecorec option: for example
    ``postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dmy_schema``. The table,
    its indexes and (if missing) the schema itself are created in the first schema of the
    search path. Safe to share between threads.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URL.
        copy_threshold: batches of at least this many events are staged with ``COPY``.

    Example:
        >>> with PostgresEventLog("postgresql://postgres@127.0.0.1/test") as log:  # doctest: +SKIP
        ...     log.append([Event("e1", 1.7e9, "u1", EventType.CLICK, item_id="i1")])
        1

    """

    def __init__(self, dsn: str, copy_threshold: int = 1_000) -> None:
        self.dsn = dsn
        self.copy_threshold = copy_threshold
        self._lock = threading.Lock()
        self._closed = False
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.dsn, autocommit=True)
        try:
            conn.execute("SET synchronous_commit TO on")
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                current = conn.execute("SELECT current_schema()").fetchone()
                if current is None or current[0] is None:
                    self._create_schema(conn)
                for statement in _SCHEMA:
                    conn.execute(statement)
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE events) ON COMMIT DELETE ROWS"
            )
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create_schema(conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SHOW search_path").fetchone()
        path = str(row[0]) if row else ""
        name = _search_path_schema(path)
        if name is None:
            raise RuntimeError(f"search_path {path!r} names no schema to create the events in")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))

    def _run(self, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run ``work`` on the shared connection, once more on a new one if the old one broke.

        Retrying is safe because every write here is idempotent (appends skip stored ids,
        deletes delete nothing twice); it hides a server restart or an idle-connection kill.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the event log is closed")
            if self._conn.broken or self._conn.closed:
                self._conn = self._connect()
            try:
                return work(self._conn)
            except psycopg.OperationalError:
                if not self._conn.broken:
                    raise
            self._conn = self._connect()
            return work(self._conn)

    def append(self, events: Sequence[Event] | pa.Table) -> int:
        """Store a batch in one transaction; return how many events were new.

        The whole batch is validated before anything is sent; the call returns after the
        commit is durable on the server.

        Args:
            events: a list of :class:`Event` or an Arrow table with the event columns.

        Returns:
            The number of events stored; ids already present (or repeated in the batch) are
            skipped and not counted.

        Raises:
            EventValidationError: naming the first bad row and field; nothing is stored.

        """
        rows = prepare_rows(events)
        if not rows:
            return 0
        return self._run(lambda conn: self._insert(conn, rows))

    def _insert(self, conn: psycopg.Connection[Any], rows: list[Row]) -> int:
        with conn.transaction(), conn.cursor() as cur:
            if len(rows) >= self.copy_threshold:
                with cur.copy(_COPY) as copy:
                    copy.set_types(_PG_TYPES)
                    for row in unique_rows(rows):
                        copy.write_row(row)
                cur.execute(_FROM_STAGE)
            elif len(rows) == 1:
                cur.execute(_INSERT, rows[0])
            else:
                cur.executemany(_INSERT, rows)
            return int(cur.rowcount)

    def _select(
        self,
        start: float | None,
        end: float | None,
        user_id: str | None,
        types: Iterable[str] | None,
        batch_size: int,
    ) -> Iterator[list[Row]]:
        # Not a generator: bad filters and a closed log fail at the call, not at first next().
        check_batch_size(batch_size)
        where, params = where_clause("%s", start, end, user_id, types)
        if self._closed:
            raise RuntimeError("the event log is closed")
        return self._pages(
            f"SELECT {COLUMNS_SQL} FROM events{where} {ORDER_SQL}", params, batch_size
        )

    def _pages(self, query: str, params: list[Any], batch_size: int) -> Iterator[list[Row]]:
        reader = psycopg.connect(self.dsn)
        try:
            reader.read_only = True
            with reader.transaction(), reader.cursor(name="ecorec_scan") as cur:
                cur.itersize = batch_size
                cur.execute(query, params)
                while rows := cur.fetchmany(batch_size):
                    yield rows
        finally:
            reader.close()

    def count(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
    ) -> int:
        """Count matching events (same filters as :meth:`scan`)."""
        where, params = where_clause("%s", start, end, user_id, types)
        row = self._run(
            lambda conn: conn.execute(f"SELECT count(*) FROM events{where}", params).fetchone()
        )
        return int(row[0]) if row else 0

    def stored(self, event_ids: Iterable[str]) -> set[str]:
        """The ids among ``event_ids`` that are in the log (one primary-key lookup)."""
        wanted = list(dict.fromkeys(event_ids))
        if not wanted:
            return set()
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT event_id FROM events WHERE event_id = ANY(%s)", (wanted,)
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    def count_by_type(self) -> dict[str, int]:
        """Return the number of stored events per type (types with none are absent)."""
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT type, count(*) FROM events GROUP BY type ORDER BY type"
            ).fetchall()
        )
        return {str(kind): int(n) for kind, n in rows}

    def delete_user(self, user_id: str) -> int:
        """Erase every event of one user (right to erasure); return how many were deleted."""
        return self._run(
            lambda conn: int(
                conn.execute("DELETE FROM events WHERE user_id = %s", (user_id,)).rowcount
            )
        )

    def close(self) -> None:
        """Close the shared connection; calling it twice is harmless."""
        with self._lock:
            self._closed = True
            self._conn.close()
