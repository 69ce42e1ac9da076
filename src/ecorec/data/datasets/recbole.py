"""RecBole atomic files: ``<name>.inter``, ``<name>.user``, ``<name>.item``.

Each file is tab-separated with a header of ``field:type`` (types ``token``, ``token_seq``,
``float``, ``float_seq``). Fields ecorec knows map to typed attributes; the rest land in
``attrs`` so nothing from the source is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecorec.core.entities import Item, User
from ecorec.data.datasets.base import (
    Dataset,
    DatasetError,
    interactions_table,
    parse_float,
    read_lines,
)

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
#: Source field -> Item attribute for the fields ecorec reads itself.
_ITEM_FIELDS = {
    "movie_title": "title",
    "title": "title",
    "class": "tags",
    "genre": "tags",
    "categories": "tags",
}


def load_recbole(path: str | Path) -> Dataset:
    """Load a RecBole dataset folder (or its ``.inter`` file).

    Raises:
        DatasetError: naming file, line and field for anything malformed.

    """
    p = Path(path)
    if p.is_file():
        inter_path, folder = p, p.parent
    elif p.is_dir():
        found = sorted(p.glob("*.inter"))
        if not found:
            raise DatasetError("no .inter file: not a RecBole atomic-file folder", p)
        if len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise DatasetError(f"several .inter files ({names}); pass the one to load", p)
        inter_path, folder = found[0], p
    else:
        raise DatasetError("no such file or folder", p)
    name = inter_path.stem
    interactions = _load_inter(inter_path)
    user_path, item_path = folder / f"{name}.user", folder / f"{name}.item"
    users = _load_users(user_path) if user_path.exists() else []
    items = _load_items(item_path) if item_path.exists() else []
    return Dataset(name=name, interactions=interactions, users=users, items=items)


def _rows(path: Path) -> tuple[list[tuple[str, str]], list[tuple[int, list[str]]]]:
    """Header ``[(field, type)]`` and ``[(line_number, values)]`` of one atomic file."""
    lines = read_lines(path)
    if not lines:
        raise DatasetError("empty file", path, 1)
    header: list[tuple[str, str]] = []
    for column in lines[0].split("\t"):
        field, sep, kind = column.partition(":")
        if not sep:
            raise DatasetError(
                f"header column {column!r} is not 'field:type': not a RecBole atomic file", path, 1
            )
        if kind not in FIELD_TYPES:
            raise DatasetError(
                f"unknown field type {kind!r} (one of {FIELD_TYPES})", path, 1, field
            )
        header.append((field, kind))
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise DatasetError(
                f"expected {len(header)} tab-separated values, got {len(values)}", path, number
            )
        rows.append((number, values))
    return header, rows


def _require(header: list[tuple[str, str]], path: Path, *fields: str) -> dict[str, int]:
    names = [f for f, _ in header]
    for field in fields:
        if field not in names:
            raise DatasetError(
                f"missing required field {field!r} (has {', '.join(names)})", path, 1
            )
    return {f: i for i, f in enumerate(names)}


def _load_inter(path: Path) -> Any:
    header, rows = _rows(path)
    col = _require(header, path, "user_id", "item_id")
    rating_at, ts_at = col.get("rating"), col.get("timestamp")
    users, items, ratings, stamps = [], [], [], []
    for number, values in rows:
        user, item = values[col["user_id"]].strip(), values[col["item_id"]].strip()
        if not user:
            raise DatasetError("empty user id", path, number, "user_id")
        if not item:
            raise DatasetError("empty item id", path, number, "item_id")
        users.append(user)
        items.append(item)
        ratings.append(
            None if rating_at is None else parse_float(values[rating_at], path, number, "rating")
        )
        stamps.append(
            None if ts_at is None else parse_float(values[ts_at], path, number, "timestamp")
        )
    return interactions_table(users, items, ratings, stamps)


def _typed(value: str, kind: str, path: Path, line: int, field: str) -> Any:
    if kind == "token":
        return value
    if kind == "token_seq":
        return value.split()
    if kind == "float":
        return parse_float(value, path, line, field) if value else None
    return [parse_float(v, path, line, field) for v in value.split()]


def _records(path: Path, id_field: str) -> list[tuple[str, dict[str, Any]]]:
    header, rows = _rows(path)
    _require(header, path, id_field)
    seen: dict[str, int] = {}
    out = []
    for number, values in rows:
        record = {
            f: _typed(v, k, path, number, f) for (f, k), v in zip(header, values, strict=True)
        }
        key = str(record.pop(id_field)).strip()
        if not key:
            raise DatasetError(f"empty {id_field}", path, number, id_field)
        if key in seen:
            raise DatasetError(
                f"duplicate id {key!r} (first on line {seen[key]})", path, number, id_field
            )
        seen[key] = number
        out.append((key, record))
    return out


def _load_users(path: Path) -> list[User]:
    return [User(user_id=key, attrs=record) for key, record in _records(path, "user_id")]


def _load_items(path: Path) -> list[Item]:
    items = []
    for key, record in _records(path, "item_id"):
        known = {_ITEM_FIELDS[f]: record.pop(f) for f in list(record) if f in _ITEM_FIELDS}
        tags = known.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        title = known.get("title")
        if isinstance(title, list):
            title = " ".join(title)
        items.append(
            Item(
                item_id=key,
                title=title,
                tags=tuple(tags),
                category=tags[0] if tags else None,
                attrs=record,
            )
        )
    return items
