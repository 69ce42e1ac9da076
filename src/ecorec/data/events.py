"""The columnar form of :class:`~ecorec.core.events.Event`: one Arrow schema for every backend.

Event logs, Parquet exports and DuckDB queries all speak :data:`EVENT_SCHEMA`, so a batch read
from SQLite, PostgreSQL or a Parquet partition looks the same. ``extra`` travels as JSON text
(not an Arrow struct) because its keys differ per event type and must round-trip exactly.

Rows (tuples in :data:`EVENT_COLUMNS` order) are the form the SQL backends bind: building them
column-wise from an Arrow table avoids one Python object per field per event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ecorec.core.events import (
    MONEY_TYPES,
    NEEDS_CREATOR,  # one source of truth for the per-type rules of validate_event
    NEEDS_ITEM,
    NEEDS_VALUE,
    Event,
    EventType,
    EventValidationError,
    validate_event,
)

#: The Arrow schema of events everywhere in ecorec (logs, Parquet, DuckDB).
EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts", pa.float64(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("item_id", pa.string()),
        pa.field("ad_id", pa.string()),
        pa.field("creator_id", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("value", pa.float64()),
        pa.field("extra", pa.string()),
    ]
)
#: Column names in schema order; SQL backends select and insert in this order.
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)
#: Columns a table must carry; the others may be missing and are then all null.
REQUIRED_COLUMNS = ("event_id", "ts", "user_id", "type")

#: Tables with fewer rows are validated row by row: the vectorized checks cost a fixed ~0.5 ms
#: of kernel calls, which is more than validate_event on a few hundred rows (measured).
VECTORIZED_MIN_ROWS = 256

#: A row in EVENT_COLUMNS order, with ``type`` as its string value and ``extra`` as JSON text.
Row = tuple[Any, ...]

_TYPE_VALUES = pa.array([t.value for t in EventType], pa.string())
_TYPES = {t.value: t for t in EventType}


def _json_default(value: Any) -> Any:
    # DESIGN.md §3: money travels as a Decimal written as a string.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Built once: json.dumps with non-default options constructs a new encoder on every call,
# which doubled the cost of turning 10,000 events into rows.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


def dump_extra(extra: dict[str, Any] | None) -> str | None:
    """Serialize ``Event.extra`` to the JSON text stored in the ``extra`` column.

    Raises:
        TypeError: when a value is not JSON serializable.

    """
    if extra is None:
        return None
    return _ENCODER.encode(extra)


def event_rows(events: Sequence[Event]) -> list[Row]:
    """Turn events (already validated) into rows in :data:`EVENT_COLUMNS` order.

    Raises:
        EventValidationError: naming the row whose ``extra`` cannot be written as JSON.

    """
    rows: list[Row] = []
    for i, e in enumerate(events):
        try:
            extra = dump_extra(e.extra)
        except (TypeError, ValueError) as err:
            raise EventValidationError(f"row {i}: extra is not JSON: {err}", "extra") from err
        kind = e.type.value if isinstance(e.type, EventType) else str(e.type)
        rows.append(
            (
                e.event_id,
                float(e.ts),
                e.user_id,
                kind,
                e.item_id,
                e.ad_id,
                e.creator_id,
                e.request_id,
                e.position,
                e.value,
                extra,
            )
        )
    return rows


def _values(col: pa.ChunkedArray) -> list[Any]:
    # Fast paths: an all-null column needs no conversion, a numeric column without nulls goes
    # through numpy (several times faster than to_pylist for floats).
    if col.null_count == len(col):
        return [None] * len(col)
    if col.null_count == 0 and (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        numbers: list[Any] = col.to_numpy().tolist()
        return numbers
    values: list[Any] = col.to_pylist()
    return values


def table_rows(table: pa.Table) -> list[Row]:
    """Turn a table already in :data:`EVENT_SCHEMA` into rows, column by column."""
    return list(zip(*[_values(col) for col in table.columns], strict=True))


def rows_to_table(rows: Sequence[Row]) -> pa.Table:
    """Build an :data:`EVENT_SCHEMA` table from rows read back from a backend."""
    if not rows:
        return EVENT_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(col, f.type) for col, f in zip(columns, EVENT_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def row_to_event(row: Row) -> Event:
    """Build an :class:`Event` from one stored row."""
    (
        event_id,
        ts,
        user_id,
        kind,
        item_id,
        ad_id,
        creator_id,
        request_id,
        position,
        value,
        extra,
    ) = row
    return Event(
        event_id=event_id,
        ts=ts,
        user_id=user_id,
        type=EventType(kind),
        item_id=item_id,
        ad_id=ad_id,
        creator_id=creator_id,
        request_id=request_id,
        position=position,
        value=value,
        extra=json.loads(extra) if extra is not None else None,
    )


def events_to_table(events: Iterable[Event]) -> pa.Table:
    """Convert events to an :data:`EVENT_SCHEMA` table (no validation beyond ``extra``).

    Args:
        events: events in any order; the table keeps it.

    Returns:
        One table, ``extra`` as JSON text, ``type`` as the type's string value.

    """
    rows = event_rows(list(events))
    return rows_to_table(rows)


def table_to_events(table: pa.Table) -> list[Event]:
    """Convert an :data:`EVENT_SCHEMA` table (validated) back to events."""
    table = table.select(list(EVENT_COLUMNS))
    return [row_to_event(row) for row in table_rows(table)]


def _first(mask: pa.ChunkedArray | pa.Array) -> int:
    """Index of the first true value of ``mask`` (nulls count as false), or -1."""
    return int(pc.index(pc.fill_null(mask, False), pa.scalar(True)).as_py())


def _blank(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.or_(pc.is_null(col), pc.equal(pc.utf8_length(pc.fill_null(col, "")), 0))


def _of_types(kinds: pa.ChunkedArray, types: Iterable[EventType]) -> pa.ChunkedArray:
    return pc.is_in(kinds, value_set=pa.array([t.value for t in types], pa.string()))


def _cast_columns(table: pa.Table) -> pa.Table:
    seen: set[str] = set()
    for name in table.column_names:
        if name in seen:
            raise EventValidationError(f"column {name!r} appears twice", name)
        seen.add(name)
    unknown = [name for name in table.column_names if name not in EVENT_COLUMNS]
    if unknown:
        raise EventValidationError(f"unknown column {unknown[0]!r}", unknown[0])
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise EventValidationError(f"missing required column {missing[0]!r}", missing[0])
    arrays = []
    for f in EVENT_SCHEMA:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        try:
            arrays.append(col.cast(f.type) if col.type != f.type else col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise EventValidationError(
                f"column {f.name!r} of type {col.type} cannot be cast to {f.type}: {err}", f.name
            ) from err
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA.with_metadata(None))


def _checks(t: pa.Table) -> list[tuple[str, str, Any]]:
    """Return the rules of :func:`validate_event` as (field, message, bad-row mask) triples."""
    kind = t.column("type")
    ts = t.column("ts")
    value = t.column("value")
    position = t.column("position")
    has_value = pc.is_valid(value)
    return [
        ("event_id", "event_id must be a non-empty string", _blank(t.column("event_id"))),
        ("user_id", "user_id must be a non-empty string", _blank(t.column("user_id"))),
        (
            "type",
            "unknown event type",
            pc.invert(pc.fill_null(pc.is_in(kind, _TYPE_VALUES), False)),
        ),
        (
            "ts",
            "ts must be finite seconds since the epoch",
            # A null ts makes the test null; fill_null(False) turns it into "bad".
            pc.invert(pc.fill_null(pc.and_(pc.is_finite(ts), pc.greater_equal(ts, 0.0)), False)),
        ),
        (
            "item_id",
            "this event type needs item_id",
            pc.and_(_of_types(kind, NEEDS_ITEM), _blank(t.column("item_id"))),
        ),
        (
            "creator_id",
            "this event type needs creator_id",
            pc.and_(_of_types(kind, NEEDS_CREATOR), _blank(t.column("creator_id"))),
        ),
        (
            "item_id",
            "this event type needs item_id or ad_id",
            pc.and_(
                _of_types(kind, (EventType.IMPRESSION, EventType.CLICK, EventType.CONVERSION)),
                pc.and_(_blank(t.column("item_id")), _blank(t.column("ad_id"))),
            ),
        ),
        (
            "value",
            "this event type needs value",
            pc.and_(_of_types(kind, NEEDS_VALUE), pc.invert(has_value)),
        ),
        (
            "value",
            "value must be a finite number",
            pc.and_(has_value, pc.invert(pc.fill_null(pc.is_finite(value), False))),
        ),
        (
            "value",
            "money value must not be negative",
            pc.and_(_of_types(kind, MONEY_TYPES), pc.less(value, 0.0)),
        ),
        (
            "value",
            "survey value must be 0-10",
            pc.and_(
                _of_types(kind, [EventType.SURVEY]),
                pc.or_(pc.less(value, 0.0), pc.greater(value, 10.0)),
            ),
        ),
        (
            "value",
            "play seconds must not be negative",
            pc.and_(_of_types(kind, [EventType.PLAY]), pc.less(value, 0.0)),
        ),
        ("position", "position must be a non-negative integer", pc.less(position, 0)),
    ]


def _bad_extra(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


def _check_extra(t: pa.Table) -> None:
    extra = t.column("extra")
    if extra.null_count == len(extra):
        return
    # Parse each distinct text once: extras repeat a lot (channel names, variants).
    for text in pc.unique(extra.drop_null()).to_pylist():
        if _bad_extra(text):
            i = _first(pc.equal(extra, text))
            raise EventValidationError(
                f"row {i}: extra must be a JSON object, got {text!r}", "extra"
            )


def _check_rows(rows: list[Row]) -> None:
    """Validate row by row with validate_event: cheaper than ~40 kernel calls for few rows."""
    for i, row in enumerate(rows):
        # Known types as EventType members, so validate_event needs no dataclasses.replace.
        kind: Any = _TYPES.get(row[3], row[3])
        try:
            validate_event(Event(row[0], row[1], row[2], kind, *row[4:-1]))
        except EventValidationError as err:
            raise EventValidationError(f"row {i}: {err}", err.field) from err
        if row[-1] is not None and _bad_extra(row[-1]):
            raise EventValidationError(
                f"row {i}: extra must be a JSON object, got {row[-1]!r}", "extra"
            )


def validate_table(table: pa.Table) -> pa.Table:
    """Check a table of events with the rules of :func:`validate_event` and cast it.

    The checks run column-wise with :mod:`pyarrow.compute`, so validating a batch of 10,000
    events costs milliseconds; small tables go through :func:`validate_event` row by row.
    Either way the error names the first bad row.

    Args:
        table: columns named as in :data:`EVENT_COLUMNS`, castable to their types; only
            ``event_id``, ``ts``, ``user_id`` and ``type`` are required.

    Returns:
        The same rows in :data:`EVENT_SCHEMA` (missing optional columns as nulls).

    Raises:
        EventValidationError: ``field`` names the column; the message names the row and value.

    """
    return _validate(table)[0]


def validated_rows(table: pa.Table) -> list[Row]:
    """Validate a table like :func:`validate_table` and return its rows, ready to bind.

    Raises:
        EventValidationError: as :func:`validate_table`.

    """
    t, rows = _validate(table)
    return rows if rows is not None else table_rows(t)


def _validate(table: pa.Table) -> tuple[pa.Table, list[Row] | None]:
    """Return the cast table, and its rows when the small-table path already built them."""
    t = _cast_columns(table)
    if t.num_rows < VECTORIZED_MIN_ROWS:
        rows = table_rows(t)
        _check_rows(rows)
        return t, rows
    worst: tuple[int, str, str] | None = None
    for name, message, mask in _checks(t):
        i = _first(mask)
        if i >= 0 and (worst is None or i < worst[0]):
            worst = (i, name, message)
    if worst is not None:
        i, name, message = worst
        got = t.column(name)[i].as_py()
        kind = t.column("type")[i].as_py()
        raise EventValidationError(f"row {i} ({kind!r}): {message}, {name}={got!r}", name)
    _check_extra(t)
    return t, None
