"""What trainable components learn from: interactions, from the stores or from a table.

Components read interactions through :meth:`TrainingData.interactions` and never care whether
they come from the EventLog of a running platform or from an evaluation split, so the same
training code serves ``ecorec train`` and ``ecorec evaluate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ecorec.core.entities import Item, User
from ecorec.core.events import POSITIVE_TYPES
from ecorec.data.protocols import Catalog, EventLog

#: Columns of every table :meth:`TrainingData.interactions` yields.
INTERACTION_COLUMNS = ("user_id", "item_id", "ts", "type", "value")


@dataclass
class TrainingData:
    """Interactions to learn from, plus the catalog for item and user metadata.

    Args:
        events: the EventLog to read (or None when ``table`` is given).
        catalog: item/user metadata, when available.
        table: an interactions table (``user_id``, ``item_id``, ``timestamp``, ``rating``), as
            the dataset loaders and splitters produce; rows become ``rating`` events.
        end: only events strictly before this time (seconds) are used.
        items, users: metadata given directly (a dataset's ``.item``/``.user`` files), used
            instead of the catalog's.

    """

    events: EventLog | None = None
    catalog: Catalog | None = None
    table: pa.Table | None = None
    end: float | None = None
    items: list[Item] | None = None
    users: list[User] | None = None

    def item_entities(self) -> Iterator[Item]:
        """Every known item: the given list, else the catalog's, else none."""
        if self.items is not None:
            yield from self.items
        elif self.catalog is not None:
            yield from self.catalog.scan(Item)

    def user_entities(self) -> Iterator[User]:
        """Every known user: the given list, else the catalog's, else none."""
        if self.users is not None:
            yield from self.users
        elif self.catalog is not None:
            yield from self.catalog.scan(User)

    def interactions(
        self, types: Iterable[str] = POSITIVE_TYPES, batch_size: int = 500_000
    ) -> Iterator[pa.Table]:
        """Yield tables of :data:`INTERACTION_COLUMNS` for item events of ``types``."""
        wanted = sorted(str(t) for t in types)
        if self.table is not None:
            yield from _from_table(self.table, wanted, self.end)
            return
        if self.events is None:
            raise ValueError("TrainingData needs an event log or an interactions table")
        for batch in self.events.scan_batches(end=self.end, types=wanted, batch_size=batch_size):
            # ad clicks and creator events carry no item: they are not item interactions
            batch = batch.filter(pc.is_valid(batch.column("item_id")))
            yield batch.select(list(INTERACTION_COLUMNS))

    def now(self) -> float:
        """The reference time for decays: ``end``, else the newest interaction's time."""
        if self.end is not None:
            return self.end
        newest = 0.0
        for batch in self.interactions():
            if batch.num_rows:
                newest = max(newest, float(pc.max(batch.column("ts")).as_py() or 0.0))
        return newest


def _from_table(table: pa.Table, wanted: list[str], end: float | None) -> Iterator[pa.Table]:
    if "rating" not in wanted:
        return
    n = table.num_rows
    ts = table.column("timestamp") if "timestamp" in table.column_names else pa.nulls(n)
    ts = pc.fill_null(pc.cast(ts, pa.float64()), 0.0)
    out = pa.table(
        {
            "user_id": table.column("user_id"),
            "item_id": table.column("item_id"),
            "ts": ts,
            "type": pa.array(["rating"] * n, pa.string()),
            "value": pc.cast(table.column("rating"), pa.float64())
            if "rating" in table.column_names
            else pa.nulls(n, pa.float64()),
        }
    )
    if end is not None:
        out = out.filter(pc.less(out.column("ts"), end))
    yield out
