"""Generic CSV or Parquet interaction files with a column mapping.

The file's header (after ``mapping`` renames) must name ``user_id`` and ``item_id`` and may
name ``rating`` and ``timestamp``; any other column is an error rather than silently dropped,
because a misspelt ``timestamp`` column would otherwise turn temporal splits into nonsense.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ecorec.data.datasets.base import (
    INTERACTION_SCHEMA,
    Dataset,
    DatasetError,
    interactions_table,
    parse_float,
    read_lines,
)

FIELDS = ("user_id", "item_id", "rating", "timestamp")
REQUIRED = ("user_id", "item_id")


def load_table(
    path: str | Path, format: str = "csv", mapping: dict[str, str] | None = None
) -> Dataset:
    """Load a CSV or Parquet interaction file.

    Args:
        path: the file.
        format: ``csv`` or ``parquet``.
        mapping: ecorec field -> column name in the file, e.g. ``{"user_id": "userId"}``.

    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError("no such file", p)
    mapping = dict(mapping or {})
    for field in mapping:
        if field not in FIELDS:
            raise DatasetError(f"mapping names unknown field {field!r} (one of {FIELDS})", p)
    if format == "parquet":
        table = _parquet(p, mapping)
    elif format == "csv":
        table = _csv(p, mapping)
    else:
        raise DatasetError(f"unknown tabular format {format!r}", p)
    return Dataset(name=p.stem, interactions=table)


def _columns(header: list[str], mapping: dict[str, str], p: Path) -> dict[str, int]:
    rename = {column: field for field, column in mapping.items()}
    for column in mapping.values():
        if column not in header:
            raise DatasetError(f"mapped column {column!r} is not in the header {header}", p, 1)
    fields = [rename.get(c, c) for c in header]
    unknown = [c for c, f in zip(header, fields, strict=True) if f not in FIELDS]
    if unknown:
        raise DatasetError(
            f"unknown column(s) {unknown}: expected {', '.join(FIELDS)} (map others with --map)",
            p,
            1,
            unknown[0],
        )
    for field in REQUIRED:
        if field not in fields:
            raise DatasetError(f"missing column {field!r} (header {header})", p, 1)
    return {f: i for i, f in enumerate(fields)}


def _csv(p: Path, mapping: dict[str, str]) -> pa.Table:
    lines = read_lines(p)
    if not lines:
        raise DatasetError("empty file", p, 1)
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader)]
    col = _columns(header, mapping, p)
    users, items, ratings, stamps = [], [], [], []
    for number, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(header):
            raise DatasetError(f"expected {len(header)} columns, got {len(values)}", p, number)
        for field in REQUIRED:
            if not values[col[field]].strip():
                raise DatasetError(f"empty {field}", p, number, field)
        users.append(values[col["user_id"]].strip())
        items.append(values[col["item_id"]].strip())
        ratings.append(
            parse_float(values[col["rating"]], p, number, "rating") if "rating" in col else None
        )
        stamps.append(
            parse_float(values[col["timestamp"]], p, number, "timestamp")
            if "timestamp" in col
            else None
        )
    return interactions_table(users, items, ratings, stamps)


def _parquet(p: Path, mapping: dict[str, str]) -> pa.Table:
    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"not a Parquet file ({exc})", p) from None
    col = _columns(table.column_names, mapping, p)
    out = {}
    for field, target in zip(INTERACTION_SCHEMA.names, INTERACTION_SCHEMA.types, strict=True):
        if field not in col:
            out[field] = pa.nulls(table.num_rows, target)
            continue
        column = table.column(col[field])
        try:
            out[field] = pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DatasetError(f"cannot read as {target}: {exc}", p, None, field) from None
        if field in REQUIRED:
            bad = pc.or_(pc.is_null(out[field]), pc.equal(pc.utf8_length(out[field]), 0))
            if pc.any(bad).as_py():
                row = pc.index(bad, True).as_py()
                raise DatasetError(f"empty {field} in row {row}", p, None, field)
        elif pc.any(pc.invert(pc.is_finite(pc.fill_null(out[field], 0.0)))).as_py():
            raise DatasetError("non-finite number", p, None, field)
    return pa.table(out, schema=INTERACTION_SCHEMA)


__all__ = ["FIELDS", "load_table"]
