"""Ids to embedding rows: a vocabulary with a hashing fallback and an out-of-vocabulary row.

Embedding tables keep row 0 for padding (an all-zero row that pooled sequences skip) and row 1
for ids never seen in training (new users, cold items), so a request for an unknown id still
gets a vector that training taught to mean "someone/something we know nothing about yet".
Known ids get their own row while they fit in the configured bucket count; past it they share
rows by a stable hash (the hashing trick), which keeps memory bounded on a catalog of any size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Row of the padding entry (never trained, skipped by pooling).
PAD = 0
#: Row shared by every id unknown at training time.
OOV = 1
_FIRST = 2

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def stable_hash(ids: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a of each string, vectorised over code points.

    Python's ``hash`` is salted per process, so it cannot place ids in buckets that must mean
    the same thing after a restart; this hash is the same everywhere.

    Example:
        >>> int(stable_hash(np.array(["a"]))[0]) == int(stable_hash(np.array(["a", "bb"]))[0])
        True

    """
    ids = np.asarray(ids, dtype=str)
    if ids.size == 0:
        return np.zeros(0, dtype=np.uint64)
    width = max(ids.dtype.itemsize // 4, 1)
    points = np.ascontiguousarray(ids).view(np.uint32).reshape(len(ids), width).astype(np.uint64)
    out = np.full(len(ids), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in points.T:
            # trailing NULs are numpy's padding, not characters: they must not change the hash
            out = np.where(column != 0, (out ^ column) * _FNV_PRIME, out)
    return out


@dataclass
class IdVocab:
    """Known ids (sorted) and their embedding rows; lookups are a binary search, no dict.

    Attributes:
        ids: the known ids, sorted (a compact unicode array even for millions of ids).
        rows: the embedding row of each id (``>= 2``).
        n_rows: size of the embedding table, padding and OOV rows included.

    """

    ids: np.ndarray
    rows: np.ndarray
    n_rows: int

    @classmethod
    def build(cls, ids: Iterable[str] | np.ndarray, buckets: int) -> IdVocab:
        """Give each distinct id a row: its own while they fit in ``buckets``, else hashed."""
        unique = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids))
        unique = unique.astype(str)
        if len(unique) <= buckets:
            rows = np.arange(_FIRST, _FIRST + len(unique), dtype=np.int64)
            return cls(unique, rows, _FIRST + len(unique))
        rows = (stable_hash(unique) % np.uint64(buckets)).astype(np.int64) + _FIRST
        return cls(unique, rows, _FIRST + buckets)

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: Iterable[str] | np.ndarray, unknown: int = OOV) -> np.ndarray:
        """Embedding rows of ``ids``; ids not in the vocabulary get ``unknown``."""
        query = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=str)
        out = np.full(len(query), unknown, dtype=np.int64)
        if not len(query) or not len(self.ids):
            return out
        pos = np.searchsorted(self.ids, query)
        inside = pos < len(self.ids)
        found = np.zeros(len(query), dtype=bool)
        found[inside] = self.ids[pos[inside]] == query[inside]
        out[found] = self.rows[pos[found]]
        return out

    def save(self, folder: Path, prefix: str) -> None:
        np.save(folder / f"{prefix}_ids.npy", self.ids, allow_pickle=False)
        np.save(folder / f"{prefix}_rows.npy", self.rows, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, prefix: str, n_rows: int) -> IdVocab:
        return cls(
            np.load(folder / f"{prefix}_ids.npy", allow_pickle=False),
            np.load(folder / f"{prefix}_rows.npy", allow_pickle=False),
            n_rows,
        )
