"""Offline copies of the event log: Parquet partitions by UTC day, queried with DuckDB.

Health metrics and training data are SQL over events (DESIGN.md §4); running that SQL over
Parquet keeps heavy analytics off the online log. Partitions are hive style
(``out_dir/day=YYYY-MM-DD/part-00000.parquet``) so DuckDB, Ray Data and Spark all read them,
and each day is rewritten whole, so re-exporting a day replaces it instead of duplicating it.
"""

from __future__ import annotations

import math
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ecorec.data.events import EVENT_SCHEMA
from ecorec.data.protocols import EventLog

_DAY = 86_400.0
_PREFIX = "day="


def _day_label(day: int) -> str:
    return datetime.fromtimestamp(day * _DAY, tz=UTC).date().isoformat()


class _DayWriter:
    """Writes one day into a hidden temp folder, then swaps it in place of the old partition."""

    def __init__(self, out_dir: Path, day: int, rows_per_file: int) -> None:
        self.out_dir = out_dir
        self.label = _day_label(day)
        self.rows_per_file = rows_per_file
        # Hidden and not matching "day=*": readers never see a half-written day.
        self.tmp = out_dir / f".tmp-{_PREFIX}{self.label}-{uuid.uuid4().hex}"
        self.tmp.mkdir()
        self.files: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is None or self._rows_in_file >= self.rows_per_file:
                self._roll()
            assert self._writer is not None
            take = min(table.num_rows, self.rows_per_file - self._rows_in_file)
            self._writer.write_table(table.slice(0, take))
            self._rows_in_file += take
            table = table.slice(take)

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        name = f"part-{len(self.files):05d}.parquet"
        self.files.append(name)
        self._writer = pq.ParquetWriter(self.tmp / name, EVENT_SCHEMA, compression="zstd")
        self._rows_in_file = 0

    def commit(self) -> list[Path]:
        """Close the files and replace the day's partition; return the final file paths."""
        if self._writer is not None:
            self._writer.close()
        target = self.out_dir / f"{_PREFIX}{self.label}"
        old = self.out_dir / f".old-{_PREFIX}{self.label}-{uuid.uuid4().hex}"
        # Two renames: a reader may miss the day for an instant, but never sees it twice.
        if target.exists():
            target.rename(old)
        self.tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return [target / name for name in self.files]

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _partition_day(path: Path) -> float | None:
    try:
        date = datetime.strptime(path.name[len(_PREFIX) :], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return date.timestamp()


def export_parquet(
    log: EventLog,
    out_dir: str | Path,
    start: float | None = None,
    end: float | None = None,
    *,
    batch_size: int = 100_000,
    rows_per_file: int = 1_000_000,
) -> list[Path]:
    """Export events to Parquet partitions by UTC day, replacing the days it covers.

    The range is widened to whole UTC days so a partition always holds its full day.
    Within the range, the partitions mirror the log: each day with events is rewritten
    atomically, and a day partition whose events are all gone (e.g. after ``delete_user``) is
    removed. Memory stays bounded by ``batch_size``, because ``scan_batches`` returns events in
    time order and one day is written at a time.

    Args:
        log: any :class:`~ecorec.data.protocols.EventLog`.
        out_dir: the dataset folder (created if missing).
        start: first time to export (widened down to its day's midnight); None: all.
        end: exclusive end (widened up to the next midnight); None: all.
        batch_size: rows read from the log at a time.
        rows_per_file: a day with more rows is split into several ``part-*.parquet`` files.

    Returns:
        The Parquet files written, in day order.

    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lo = math.floor(start / _DAY) * _DAY if start is not None else None
    hi = math.ceil(end / _DAY) * _DAY if end is not None else None
    written: list[Path] = []
    days: set[str] = set()
    current: _DayWriter | None = None
    try:
        for batch in log.scan_batches(start=lo, end=hi, batch_size=batch_size):
            day_of_row = pc.floor(pc.divide(batch.column("ts"), _DAY)).cast(pa.int64()).to_numpy()
            # Rows come sorted by ts, so each day is one contiguous run of the batch.
            run_days, run_starts = np.unique(day_of_row, return_index=True)
            bounds = [*run_starts.tolist(), batch.num_rows]
            for day, a, b in zip(run_days.tolist(), bounds, bounds[1:], strict=False):
                if current is None or current.label != _day_label(day):
                    if current is not None:
                        written += current.commit()
                    current = _DayWriter(out, day, rows_per_file)
                    days.add(current.label)
                current.write(batch.slice(a, b - a))
        if current is not None:
            written += current.commit()
            current = None
    finally:
        if current is not None:
            current.abort()
    for part in out.glob(f"{_PREFIX}*"):
        when = _partition_day(part)
        if when is None or part.name[len(_PREFIX) :] in days:
            continue
        if (lo is None or when >= lo) and (hi is None or when < hi):
            shutil.rmtree(part)
    return written


_DUCK_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int32": "INTEGER",
}


class OfflineEvents:
    """DuckDB over exported partitions, with the events exposed as a view named ``events``.

    The view adds the partition column ``day`` (a DATE). With no partitions yet, ``events`` is
    an empty view of the same columns, so health queries run (and return nothing) on day one.

    Args:
        parquet_dir: the folder :func:`export_parquet` wrote.

    Example:
        >>> with OfflineEvents("exports/events") as db:  # doctest: +SKIP
        ...     db.query("SELECT type, count(*) AS n FROM events GROUP BY type")

    """

    def __init__(self, parquet_dir: str | Path) -> None:
        self.parquet_dir = Path(parquet_dir)
        self._db = duckdb.connect()
        if any(self.parquet_dir.glob(f"{_PREFIX}*/*.parquet")):
            glob = str(self.parquet_dir / f"{_PREFIX}*" / "*.parquet").replace("'", "''")
            source = (
                f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
                "hive_types = {'day': DATE})"
            )
        else:
            cols = ", ".join(f"{f.name} {_DUCK_TYPES[str(f.type)]}" for f in EVENT_SCHEMA)
            self._db.execute(f"CREATE TABLE _no_events ({cols}, day DATE)")
            source = "SELECT * FROM _no_events"
        self._db.execute(f"CREATE VIEW events AS {source}")

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run DuckDB SQL (``events`` is the view) and return the result as an Arrow table."""
        return self._db.execute(sql, params).to_arrow_table()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._db.close()

    def __enter__(self) -> OfflineEvents:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def query(sql: str, parquet_dir: str | Path) -> pa.Table:
    """Run one DuckDB query over exported partitions (``events`` is the view); see OfflineEvents.

    Args:
        sql: DuckDB SQL, e.g. ``SELECT day, count(*) FROM events GROUP BY day``.
        parquet_dir: the folder :func:`export_parquet` wrote.

    """
    with OfflineEvents(parquet_dir) as db:
        return db.query(sql)
