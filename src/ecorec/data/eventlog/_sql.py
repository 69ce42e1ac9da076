"""SQL pieces the event-log backends share: filters, batch preparation, column lists.

Both backends bind the same rows in :data:`~ecorec.data.events.EVENT_COLUMNS` order and
translate the same filters, so they differ only in placeholders and transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import pyarrow as pa

from ecorec.core.events import Event, EventType, EventValidationError, validate_event
from ecorec.data.events import (
    EVENT_COLUMNS,
    Row,
    event_rows,
    row_to_event,
    rows_to_table,
    validated_rows,
)

COLUMNS_SQL = ", ".join(EVENT_COLUMNS)
ORDER_SQL = "ORDER BY ts, event_id"


def prepare_rows(events: Sequence[Event] | pa.Table) -> list[Row]:
    """Validate a whole batch, then turn it into rows: nothing is written if any event is bad.

    Args:
        events: a list of :class:`Event` (checked one by one with ``validate_event``) or an
            Arrow table (checked column-wise with ``validate_table``).

    Raises:
        EventValidationError: naming the first bad row and field.

    """
    if isinstance(events, pa.Table):
        return validated_rows(events)
    checked = []
    for i, event in enumerate(events):
        try:
            checked.append(validate_event(event))
        except EventValidationError as err:
            # Name the row so a client can fix a 10,000-event batch without bisecting it.
            raise EventValidationError(f"row {i}: {err}", err.field) from err
    return event_rows(checked)


def unique_rows(rows: list[Row]) -> list[Row]:
    """Drop repeated event ids inside one batch, keeping the first (as the SQL backends do)."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    return out


def type_values(types: Iterable[str] | None) -> list[str] | None:
    """Normalize a ``types`` filter to type strings; unknown names are a caller error.

    Raises:
        ValueError: for a name that is not an :class:`EventType` value.

    """
    if types is None:
        return None
    if isinstance(types, str):
        types = [types]
    return sorted({EventType(t).value for t in types})


def where_clause(
    placeholder: str,
    start: float | None,
    end: float | None,
    user_id: str | None,
    types: Iterable[str] | None,
) -> tuple[str, list[Any]]:
    """Build ``WHERE ...`` (or "") and its parameters for the protocol's filters.

    Args:
        placeholder: ``?`` for SQLite, ``%s`` for psycopg.
        start: keep events with ``ts >= start``.
        end: keep events with ``ts < end`` (the range is half-open).
        user_id: only this user's events.
        types: only these event types; an empty set matches nothing.

    Returns:
        The clause (with a leading space) and the parameters in order.

    """
    parts: list[str] = []
    params: list[Any] = []
    if start is not None:
        parts.append(f"ts >= {placeholder}")
        params.append(float(start))
    if end is not None:
        parts.append(f"ts < {placeholder}")
        params.append(float(end))
    if user_id is not None:
        parts.append(f"user_id = {placeholder}")
        params.append(user_id)
    kinds = type_values(types)
    if kinds is not None:
        if not kinds:
            parts.append("1 = 0")
        else:
            parts.append(f"type IN ({', '.join([placeholder] * len(kinds))})")
            params.extend(kinds)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


def check_batch_size(batch_size: int) -> int:
    """Reject batch sizes that would stall a scan forever.

    Raises:
        ValueError: when ``batch_size`` is not positive.

    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return batch_size


class EventLogBase(ABC):
    """What both SQL backends share once they can page through a filtered SELECT.

    Subclasses implement ``_select`` (pages of rows in scan order) and ``close``.
    """

    @abstractmethod
    def _select(
        self,
        start: float | None,
        end: float | None,
        user_id: str | None,
        types: Iterable[str] | None,
        batch_size: int,
    ) -> Iterator[list[Row]]:
        """Pages of matching rows in scan order; fails at the call for bad filters."""

    @abstractmethod
    def close(self) -> None:
        """Close the backend's connections."""

    def scan(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
    ) -> Iterator[Event]:
        """Yield matching events ordered by ``(ts, event_id)``, streamed from one snapshot.

        Args:
            start: keep events with ``ts >= start`` (None: from the beginning).
            end: keep events with ``ts < end`` (None: to the end); the range is half-open.
            user_id: only this user's events.
            types: only these event types (strings or :class:`EventType`).

        Raises:
            ValueError: for an unknown type name (at the call, before iterating).

        """
        pages = self._select(start, end, user_id, types, 1_000)
        return (row_to_event(row) for rows in pages for row in rows)

    def scan_batches(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
        batch_size: int = 100_000,
    ) -> Iterator[pa.Table]:
        """Yield :data:`EVENT_SCHEMA` tables of at most ``batch_size`` rows, in scan order.

        Only one batch is in memory at a time, so exporting a large log stays bounded.
        """
        return map(rows_to_table, self._select(start, end, user_id, types, batch_size))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
