"""Small hand-made datasets shared by the co-occurrence channel tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from ecorec.core.entities import Item
from ecorec.data.training import TrainingData

DAY = 86_400.0


def table(rows: Iterable[tuple[str, str, float]]) -> pa.Table:
    """An interactions table from ``(user_id, item_id, timestamp)`` rows."""
    users, items, stamps = zip(*rows, strict=True)
    return pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "item_id": pa.array(items, pa.string()),
            "timestamp": pa.array(stamps, pa.float64()),
        }
    )


def data(rows: Iterable[tuple[str, str, float]], items: list[Item] | None = None) -> TrainingData:
    """TrainingData over ``rows``, with a catalog of ``items`` when given."""
    catalog = FakeCatalog(items) if items is not None else None
    return TrainingData(table=table(rows), catalog=catalog)  # type: ignore[arg-type]


def from_matrix(x: np.ndarray) -> TrainingData:
    """TrainingData whose users ``u<r>`` consumed items ``i<c>`` where ``x[r, c]`` is set."""
    rows = [(f"u{r}", f"i{c}", 0.0) for r, c in zip(*np.nonzero(x), strict=True)]
    return data(rows)


class FakeCatalog:
    """Just enough of a Catalog for ``scan(Item)``: tells the channels what is deleted."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def scan(self, kind: type) -> Iterator[Item]:
        assert kind is Item
        return iter(self.items)


def random_binary(users: int, items: int, density: float, seed: int) -> np.ndarray:
    """A random 0/1 matrix with every row and column non-empty (ids must all exist)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((users, items)) < density).astype(float)
    x[np.arange(users), rng.integers(0, items, users)] = 1.0
    x[rng.integers(0, users, items), np.arange(items)] = 1.0
    return x
