"""Load one window of events and the catalog attributes the health metrics need into DuckDB.

Every health metric is SQL over tables built here once per call: ``ev``, the events of the
window (of one user segment when asked), ``ev_extra``, the ``extra`` JSON of its ad impressions
and comments, and ``prev``, the events of the previous window of equal length (for "is it
rising?" comparisons), beside catalog tables ``users``, ``items``, ``creators`` and ``ads`` and
the shared aggregates ``item_stats`` and ``user_days``. Events come from an EventLog's Arrow
batches, an Arrow table or a Parquet export, the same sources
:func:`ecorec.features.impressions.event_table` reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ecorec.core.entities import Ad, Creator, Entity, Item, User
from ecorec.data.events import EVENT_SCHEMA
from ecorec.data.protocols import Catalog, EventLog
from ecorec.features.impressions import event_table

DAY = 86_400.0
_UNITS = {"m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
#: Columns of ``ev``. ``extra`` lives apart, in ``ev_extra``, holding only the rows a metric
#: reads it on (ad impressions, comments): converting 10M JSON strings cost more than half of
#: building ``ev``. The request id is kept as its 64-bit hash, which is all the metrics need
#: (equality and distinct counts; a collision among 10M ids has odds of about 1 in 300,000).
_EV_COLUMNS = (
    "ts, user_id, type, item_id, ad_id, "
    "CASE WHEN request_id IS NOT NULL THEN hash(request_id) END AS request_id, position, value"
)
_EXTRA_COLUMNS = (
    "ts, user_id, type, ad_id, "
    "CASE WHEN request_id IS NOT NULL THEN hash(request_id) END AS request_id, extra"
)
#: Rows per Arrow chunk handed to DuckDB, which scans chunks in parallel (one huge chunk
#: would be scanned by one thread).
_CHUNK_ROWS = 122_880

#: Events on items that count as interactions (popularity, long-tail consumption).
INTERACTIONS = "('click', 'play', 'like', 'share', 'comment', 'conversion')"

EventSource: TypeAlias = EventLog | pa.Table | str | Path
CatalogSource: TypeAlias = Catalog | Iterable[Entity]


def parse_window(text: str) -> float:
    """Seconds of a window written as ``<number><unit>``, unit ``m``, ``h``, ``d`` or ``w``.

    Example:
        >>> parse_window("7d"), parse_window("24h")
        (604800.0, 86400.0)

    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"window must look like 24h, 7d or 30d (a positive number and m/h/d/w), got {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open time range ``[start, end)`` the metrics cover, and its label."""

    label: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Length of the window."""
        return self.end - self.start

    @property
    def previous(self) -> Window:
        """The window of equal length just before this one."""
        return Window(f"previous {self.label}", self.start - self.seconds, self.start)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: label, epoch seconds and ISO-8601 UTC bounds."""
        return {
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "start_iso": _iso(self.start),
            "end_iso": _iso(self.end),
            "seconds": self.seconds,
        }


def latest_ts(source: EventSource) -> float | None:
    """Timestamp of the newest event of ``source`` (None when it has none).

    The EventLog protocol has no ``max(ts)``, so it is found by bisection on ``count(start=)``,
    which an index on ``ts`` answers; about 40 counts instead of a scan of the whole log.
    """
    if isinstance(source, pa.Table | str | Path):
        table = event_table(source)
        if table.num_rows == 0:
            return None
        return float(pc.max(table.column("ts")).as_py())
    if source.count() == 0:
        return None
    lo, hi = 0.0, 1.0
    while source.count(start=hi) > 0:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2.0
        if source.count(start=mid) > 0:
            lo = mid
        else:
            hi = mid
    # [lo, hi) holds the newest event; scanning that sliver gives its exact ts.
    newest = [e.ts for e in source.scan(start=lo, end=hi + 1e-3)]
    return max(newest) if newest else lo


def _column(rows: list[tuple[Any, ...]], i: int, kind: pa.DataType) -> pa.Array:
    return pa.array([r[i] for r in rows], kind)


#: The attributes health metrics read, per entity type, in the column order of their tables.
CATALOG_FIELDS: dict[type, tuple[str, ...]] = {
    User: ("user_id", "created_at", "segment", "group", "region"),
    Item: ("item_id", "creator_id", "category", "quality", "created_at", "deleted"),
    Creator: ("creator_id", "stage", "created_at"),
    Ad: ("ad_id", "advertiser_id", "bid_type", "bid"),
}


def catalog_tables(source: CatalogSource) -> dict[str, pa.Table]:
    """Arrow tables ``users``, ``items``, ``creators``, ``ads`` of a Catalog or of entities.

    Only the attributes health metrics read are kept (:data:`CATALOG_FIELDS`): signup time,
    segment, group and region of users; creator, category, quality, creation time and
    deletion of items; stage and creation time of creators; advertiser, bid type and bid of
    ads. From a Catalog they are read as plain columns (:meth:`Catalog.values`): building
    every entity of a 1M-item catalog was ~90% of a health refresh in the service.
    """
    rows: dict[type, list[tuple[Any, ...]]]
    if isinstance(source, Iterable) and not hasattr(source, "values"):
        rows = {k: [] for k in CATALOG_FIELDS}
        for entity in source:
            fields = CATALOG_FIELDS.get(type(entity))
            if fields is not None:
                rows[type(entity)].append(tuple(getattr(entity, f) for f in fields))
    else:
        catalog: Any = source
        rows = {k: list(catalog.values(k, fields)) for k, fields in CATALOG_FIELDS.items()}
    u, i, c, a = (rows[k] for k in (User, Item, Creator, Ad))
    # enum fields (stage, bid type): the entity's member or the catalog's stored value
    c = [(x[0], str(x[1]), x[2]) for x in c]
    a = [(x[0], x[1], str(x[2]), x[3]) for x in a]
    s, f = pa.string(), pa.float64()
    return {
        "users": pa.table(
            {
                "user_id": _column(u, 0, s),
                "created_at": _column(u, 1, f),
                "segment": _column(u, 2, s),
                "group": _column(u, 3, s),
                "region": _column(u, 4, s),
            }
        ),
        "items": pa.table(
            {
                "item_id": _column(i, 0, s),
                "creator_id": _column(i, 1, s),
                "category": _column(i, 2, s),
                "quality": _column(i, 3, f),
                "created_at": _column(i, 4, f),
                "deleted": _column(i, 5, pa.bool_()),
            }
        ),
        "creators": pa.table(
            {
                "creator_id": _column(c, 0, s),
                "stage": _column(c, 1, s),
                "created_at": _column(c, 2, f),
            }
        ),
        "ads": pa.table(
            {
                "ad_id": _column(a, 0, s),
                "advertiser_id": _column(a, 1, s),
                "bid_type": _column(a, 2, s),
                "bid": _column(a, 3, f),
            }
        ),
    }


@dataclass
class HealthFrame:
    """A DuckDB connection holding ``ev``, ``prev`` and the catalog tables of one window.

    Attributes:
        con: the connection every metric queries.
        window: the window ``ev`` covers; ``prev`` covers ``window.previous``.
        segment: the user segment the events were restricted to (None: everyone).
        observed_start: the later of the window start and the log's first event (any user)
            from the previous window on.

    """

    con: duckdb.DuckDBPyConnection
    window: Window
    segment: str | None = None
    observed_start: float = 0.0

    @property
    def observed(self) -> float:
        """Seconds of the window the log covers: from its first event (or the window start).

        A log that begins inside the window (a fresh platform, a generated history) has no
        events before it; counting those days would read as users leaving, not as no data.
        """
        return self.window.end - self.observed_start

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        """The single row of ``sql``."""
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None, "an aggregate query returns one row"
        return tuple(row)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql``."""
        return [tuple(r) for r in self.con.execute(sql, params or []).fetchall()]

    def close(self) -> None:
        """Release the connection and its tables."""
        self.con.close()


def _events(source: EventSource, start: float, end: float) -> pa.Table:
    if isinstance(source, pa.Table | str | Path):
        table = event_table(source)
    else:
        tables = list(source.scan_batches(start=start, end=end))
        table = pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()
    return pa.Table.from_batches(table.to_batches(max_chunksize=_CHUNK_ROWS), table.schema)


def _extras(raw: pa.Table) -> pa.Table:
    """The rows whose ``extra`` a metric reads: ad impressions and comments (filtered in Arrow)."""
    kind = raw.column("type")
    wanted = pc.or_(
        pc.equal(kind, "comment"),
        pc.and_(pc.equal(kind, "impression"), pc.is_valid(raw.column("ad_id"))),
    )
    return raw.select(["ts", "user_id", "type", "ad_id", "request_id", "extra"]).filter(wanted)


def _first_ts(raw: pa.Table, start: float) -> float | None:
    ts = raw.column("ts")
    first = pc.min(pc.filter(ts, pc.greater_equal(ts, start))).as_py()
    return None if first is None else float(first)


def load_frame(
    events: EventSource,
    catalog: dict[str, pa.Table],
    window: Window,
    segment: str | None = None,
) -> HealthFrame:
    """Build the :class:`HealthFrame` of ``window`` (and its previous window).

    Args:
        events: an EventLog, an Arrow table in ``EVENT_SCHEMA`` or a Parquet export folder.
        catalog: tables from :func:`catalog_tables`.
        window: the window to measure.
        segment: keep only events of users whose catalog ``segment`` is this.

    """
    if not math.isfinite(window.start) or window.end <= window.start:
        raise ValueError(f"window end must be after its start, got {window}")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    for name, table in catalog.items():
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
    previous = window.previous
    raw = _events(events, previous.start, window.end)
    con.register("raw", raw)
    con.register("raw_extra", _extras(raw))
    keep = ""
    params: list[Any] = []
    if segment is not None:
        keep = "AND user_id IN (SELECT user_id FROM users WHERE segment = ?)"
        params = [segment]
    for name, columns, source in (
        ("ev", _EV_COLUMNS, "raw"),
        ("ev_extra", _EXTRA_COLUMNS, "raw_extra"),
    ):
        con.execute(
            f"CREATE TEMP TABLE {name} AS SELECT {columns} FROM {source} "
            f"WHERE ts >= ? AND ts < ? {keep}",
            [window.start, window.end, *params],
        )
    con.execute(
        "CREATE TEMP TABLE prev AS SELECT ts, user_id, type, item_id FROM raw "
        f"WHERE ts >= ? AND ts < ? {keep} "
        "AND type IN ('impression', 'not_interested', 'block_creator', 'flag')",
        [previous.start, previous.end, *params],
    )
    con.unregister("raw")
    con.unregister("raw_extra")
    _shared_tables(con, window)
    first = _first_ts(raw, previous.start)
    observed = window.start if first is None else max(window.start, first)
    return HealthFrame(con, window, segment, observed)


def _shared_tables(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """Aggregates several metrics read, built in one pass each over ``ev``.

    ``item_stats``: per item shown or acted on, its catalog creator, impressions, clicks,
    interactions and best (lowest) impression position.
    ``user_days``: distinct (user, day) pairs, day ``d`` being the 24-hour slice
    ``[end - (d+1) days, end - d days)``.
    """
    con.execute(
        f"""
        CREATE TEMP TABLE item_stats AS
        WITH s AS (
            SELECT item_id,
                count(*) FILTER (WHERE type = 'impression') AS shown,
                count(*) FILTER (WHERE type = 'click') AS clicks,
                count(*) FILTER (WHERE type IN {INTERACTIONS}) AS used,
                min(position) FILTER (WHERE type = 'impression') AS best_position
            FROM ev WHERE item_id IS NOT NULL GROUP BY item_id
        )
        SELECT s.item_id, i.creator_id, s.shown, s.clicks, s.used, s.best_position
        FROM s LEFT JOIN items i USING (item_id)
        """
    )
    con.execute(
        "CREATE TEMP TABLE user_days AS SELECT DISTINCT user_id, "
        f"CAST(floor(({window.end!r} - ts) / {DAY}) AS INTEGER) AS d FROM ev"
    )


def ratio(numerator: float | int | None, denominator: float | int | None) -> float | None:
    """``numerator / denominator``, or None when the denominator is missing or zero."""
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)
