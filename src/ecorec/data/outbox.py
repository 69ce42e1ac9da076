"""A durable local outbox: events wait here until the nearline stream has accepted them.

The HTTP service must answer quickly even when NATS is down, and must not lose an event that
it already stored in the EventLog. So publishing is split in two: ``put`` writes the batch to
this SQLite file (WAL, ``synchronous=FULL``: on disk when ``put`` returns) and a relay thread
later moves rows, oldest first, into the stream and removes them once the stream acknowledged
them. A crash between the two only means a row is published again, which the stream (dedupe
by event id) and the consumer (processed-id table) absorb.

Plain ``sqlite3`` rather than SQLAlchemy: the file is private to one process, and the relay
and request threads share a single connection behind a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from ecorec.core.events import Event
from ecorec.data.chunks import sql_chunks
from ecorec.data.events import event_rows, row_to_event


def encode_event(event: Event) -> bytes:
    """Serialize ``event`` as a JSON array in :data:`~ecorec.data.events.EVENT_COLUMNS` order.

    The same row form the EventLog stores, so every field (``extra`` included) round-trips.
    """
    return json.dumps(event_rows([event])[0], separators=(",", ":")).encode()


def decode_event(data: bytes | str) -> Event:
    """Rebuild an :class:`Event` from :func:`encode_event` output.

    Raises:
        ValueError: when ``data`` is not an encoded event (names what is wrong).

    """
    try:
        row = json.loads(data)
    except json.JSONDecodeError as err:
        raise ValueError(f"encoded event is not JSON: {err}") from err
    if not isinstance(row, list) or len(row) != 11:
        raise ValueError("encoded event must be a JSON array of 11 columns")
    return row_to_event(tuple(row))


class Outbox:
    """Events accepted by the service but not yet taken by the stream, in a SQLite file.

    Thread-safe: one connection guarded by a lock (SQLite serializes writers anyway).

    Args:
        path: the SQLite file (created with its folder when missing), or ``":memory:"`` for
            tests that do not need durability.

    Example:
        >>> from ecorec.core.events import Event, EventType
        >>> box = Outbox(":memory:")
        >>> box.put([Event("e1", 1.7e9, "u1", EventType.CLICK, item_id="i1")])
        >>> [(i, e.event_id) for i, e in box.peek(10)]
        [(1, 'e1')]
        >>> box.remove([1]); box.pending()
        0

    """

    def __init__(self, path: str | Path) -> None:
        path = str(path)
        if not path:
            raise ValueError("outbox path must not be empty")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: transactions are explicit (BEGIN/COMMIT below).
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT NOT NULL,"
            " body BLOB NOT NULL)"
        )

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"outbox {self.path} is closed")
        return self._conn

    def put(self, events: Sequence[Event]) -> None:
        """Append ``events`` in one transaction: all are on disk when this returns, or none.

        Raises:
            EventValidationError: an event whose ``extra`` is not JSON (nothing is written).

        """
        bodies = [(e.event_id, encode_event(e)) for e in events]
        if not bodies:
            return
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO outbox (event_id, body) VALUES (?, ?)", bodies)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def peek(self, limit: int) -> list[tuple[int, Event]]:
        """The oldest ``limit`` rows as ``(row id, event)``, in insertion order; nothing removed."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        with self._lock:
            rows = (
                self._db()
                .execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (limit,))
                .fetchall()
            )
        return [(int(row_id), decode_event(body)) for row_id, body in rows]

    def remove(self, ids: Iterable[int]) -> None:
        """Delete the rows with these ids (unknown ids are ignored), in one transaction."""
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                for chunk in sql_chunks(ids):
                    marks = ", ".join("?" * len(chunk))
                    db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def pending(self) -> int:
        """How many events wait for the stream."""
        with self._lock:
            (count,) = self._db().execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the file; idempotent. Rows not yet published stay for the next open."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
