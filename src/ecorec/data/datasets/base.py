"""The common shape of a loaded dataset and the error every loader raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ecorec.core.entities import Item, User

#: Columns of :attr:`Dataset.interactions`.
INTERACTION_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("rating", pa.float64()),
        ("timestamp", pa.float64()),
    ]
)


class DatasetError(ValueError):
    """Input that is not what its format says; the message names file, line and field."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path = path
        self.line = line
        self.field = field


@dataclass
class Dataset:
    """Interactions plus whatever user and item metadata the source had.

    ``interactions`` has :data:`INTERACTION_SCHEMA`; ``rating`` is null for implicit data and
    ``timestamp`` is seconds since the epoch (null when the source has none).
    """

    name: str
    interactions: pa.Table
    users: list[User] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    @property
    def n_interactions(self) -> int:
        return int(self.interactions.num_rows)

    def user_ids(self) -> list[str]:
        """Every user id in the interactions or the user file, sorted."""
        ids = set(self.interactions.column("user_id").to_pylist())
        ids.update(u.user_id for u in self.users)
        return sorted(ids)

    def item_ids(self) -> list[str]:
        """Every item id in the interactions or the item file, sorted."""
        ids = set(self.interactions.column("item_id").to_pylist())
        ids.update(i.item_id for i in self.items)
        return sorted(ids)

    def complete_entities(self) -> tuple[list[User], list[Item]]:
        """Users and items, adding bare entities for ids that only appear in interactions."""
        known_users = {u.user_id for u in self.users}
        known_items = {i.item_id for i in self.items}
        users = list(self.users) + [
            User(user_id=u)
            for u in _unique(self.interactions.column("user_id").to_pylist())
            if u not in known_users
        ]
        items = list(self.items) + [
            Item(item_id=i)
            for i in _unique(self.interactions.column("item_id").to_pylist())
            if i not in known_items
        ]
        return users, items


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def interactions_table(
    user_ids: list[str],
    item_ids: list[str],
    ratings: list[float | None] | None = None,
    timestamps: list[float | None] | None = None,
) -> pa.Table:
    """Build an interactions table from parallel lists."""
    n = len(user_ids)
    return pa.table(
        {
            "user_id": pa.array(user_ids, pa.string()),
            "item_id": pa.array(item_ids, pa.string()),
            "rating": pa.array(ratings if ratings is not None else [None] * n, pa.float64()),
            "timestamp": pa.array(
                timestamps if timestamps is not None else [None] * n, pa.float64()
            ),
        },
        schema=INTERACTION_SCHEMA,
    )


def parse_float(text: str, path: Path, line: int, field: str) -> float:
    """Parse a finite float or raise a :class:`DatasetError` naming where it was."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"expected a number, got {text!r}", path, line, field) from None
    if not np.isfinite(value):
        raise DatasetError(f"expected a finite number, got {text!r}", path, line, field)
    return value


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """Read a text file's lines, refusing binary files with a clear error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", path) from None
    if b"\x00" in raw[:4096]:
        raise DatasetError("binary file, not a text file of this format", path)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"not valid {encoding} text", path, line) from None
    return text.splitlines()
