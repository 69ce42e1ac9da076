"""Item feature vectors and cosine similarity for the diversity re-rankers.

MMR and DPP both need "how alike are these two candidates". Without a trained embedding the
catalog's own labels answer it: an item is a multi-hot vector over its category and its tags,
L2-normalised, so two items of the same category with the same tags have similarity 1 and items
sharing nothing have 0. A caller may pass embeddings (item id -> vector) instead; then only
those vectors are compared, since a category vector and an embedding live in different spaces.

An item without metadata (unknown id, or no embedding when embeddings are given) has a zero
vector: it is similar to nothing, and to itself with similarity 1, so the similarity matrix
keeps a unit diagonal and stays positive semi-definite (a Gram matrix plus a diagonal).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.entities import Item
from ecorec.data.protocols import Catalog
from ecorec.features.entities import CatalogSnapshot, Entities, attached

#: Feature keys of one item: ("c", category) and ("t", tag) pairs, so a tag named like a
#: category is a different feature (the main category weighs more than a side label).
Keys = tuple[tuple[str, str], ...]


def item_keys(item: Item | None) -> Keys:
    """The multi-hot features of ``item``: its category and its distinct tags."""
    if item is None:
        return ()
    keys: list[tuple[str, str]] = []
    if item.category:
        keys.append(("c", item.category))
    keys.extend(("t", tag) for tag in dict.fromkeys(item.tags) if tag)
    return tuple(keys)


class ItemSimilarity:
    """Cosine similarity between candidates, from catalog labels or given embeddings.

    Features of known items are cached by id (labels do not change within a serving process's
    life often enough to matter); unknown ids are looked up again on every call, in one batched
    catalog read, so an item published after start-up is seen once the catalog has it.

    Args:
        entities: item metadata (``Entities.of(items=...)`` in tests); ``None`` until
            :meth:`attach` gives a catalog.
        embeddings: item id -> vector; when given, similarity is the cosine of these vectors
            and the labels are not read.

    Example:
        >>> from ecorec.core.entities import Item
        >>> items = [Item("a", category="x"), Item("b", category="x")]
        >>> sim = ItemSimilarity(Entities.of(items=items))
        >>> sim.matrix(["a", "b", "zz"]).round(2).tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]

    """

    def __init__(
        self,
        entities: Entities | None = None,
        embeddings: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    ) -> None:
        self.entities = entities
        self.embeddings = (
            None
            if embeddings is None
            else {k: np.asarray(v, dtype=np.float64) for k, v in embeddings.items()}
        )
        self._keys: dict[str, Keys] = {}
        self._table = _KeyTable()

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read item metadata from ``catalog`` (or the pipeline's ``snapshot`` of it)."""
        self.entities = attached(self.entities, catalog, snapshot)
        # every item read now is a table row now, not one request's miss later (the rows are
        # flat arrays: a million items' feature tuples would cost hundreds of megabytes)
        self._table.add([(i, item_keys(item)) for i, item in self.entities.items.items()])

    def keys(self, item_ids: Sequence[str]) -> list[Keys]:
        """The features of each id (``()`` for an unknown one)."""
        missing = [i for i in item_ids if i not in self._keys]
        if missing and self.entities is not None:
            self.entities.prefetch_items(missing)
            for item_id in missing:
                item = self.entities.items.get(item_id)
                if item is not None:
                    self._keys[item_id] = item_keys(item)
        return [self._keys.get(i, ()) for i in item_ids]

    def vectors(self, item_ids: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per id (zeros for an item without features).

        The columns are the features present among ``item_ids``, gathered from the cached
        table of every known item's features rather than rebuilt per candidate.
        """
        if self.embeddings is not None:
            return _embedding_rows(item_ids, self.embeddings)
        rows = self._table.rows_of(item_ids)
        if (rows == 0).any():  # unknown to the table: new in the catalog, or not there at all
            missing = [item_ids[k] for k in np.flatnonzero(rows == 0).tolist()]
            self.keys(missing)
            known = [(i, self._keys[i]) for i in missing if i in self._keys]
            if known:
                self._table.add(known)
                rows = self._table.rows_of(item_ids)
        members, columns, counts = self._table.features(rows)
        _, local = np.unique(columns, return_inverse=True)
        out = np.zeros((len(item_ids), max(int(local.max(initial=-1)) + 1, 1)))
        # a row's features are distinct (item_keys) and weigh 1 each: its L2 norm is the square
        # root of their count, known without measuring the rows (what _normalise would give)
        out[members, local] = (1.0 / np.sqrt(np.maximum(counts, 1)))[members]
        return out

    def matrix(self, item_ids: Sequence[str]) -> np.ndarray:
        """Cosine similarity of every pair of ``item_ids``, with a unit diagonal."""
        return similarity_matrix(self.vectors(item_ids))


class _KeyTable:
    """The features of every catalog item seen so far as flat arrays, one row per item.

    Row 0 is the empty row of an item the catalog does not know (looked up again next time);
    item ``r``'s feature columns are ``columns[starts[r]:starts[r + 1]]``. Rows are only
    appended (a new item gets the next one), under a lock, and readers take one consistent
    ``(starts, columns)`` snapshot, so a concurrent request never sees a half-added row.
    """

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._arrays = (np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """The row of each id, 0 for one the table does not hold."""
        return np.fromiter(map(self._rows.get, item_ids, repeat(0)), np.int64, len(item_ids))

    def add(self, known: Sequence[tuple[str, Keys]]) -> None:
        """Append rows for the catalog items ``known`` (item id, its features) not held yet."""
        with self._lock:
            starts, columns = self._arrays
            rows: dict[str, int] = {}
            new_starts: list[int] = []
            new_columns: list[int] = []
            end = int(starts[-1])
            for item_id, keys in known:
                if item_id in self._rows or item_id in rows:
                    continue
                new_columns.extend(self._ids.setdefault(key, len(self._ids)) for key in keys)
                end += len(keys)
                rows[item_id] = len(starts) - 1 + len(new_starts)
                new_starts.append(end)
            # the arrays first: a concurrent reader must never see a row they do not hold yet
            self._arrays = (
                np.concatenate([starts, np.asarray(new_starts, dtype=np.int64)]),
                np.concatenate([columns, np.asarray(new_columns, dtype=np.int64)]),
            )
            self._rows.update(rows)

    def features(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(member, column)`` of every feature of ``rows``, and each row's feature count.

        ``member`` indexes ``rows``.
        """
        starts, columns = self._arrays
        begin = starts[rows]
        counts = starts[rows + 1] - begin
        members = np.repeat(np.arange(len(rows)), counts)
        offsets = np.cumsum(counts) - counts
        at = np.arange(len(members)) - offsets[members] + begin[members]
        return members, columns[at], counts


def similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """``V V^T`` of L2-normalised rows, with the diagonal set to 1 (a zero row is unknown)."""
    sim: np.ndarray = vectors @ vectors.T
    np.fill_diagonal(sim, 1.0)
    return sim


def intra_list_diversity(vectors: np.ndarray) -> float:
    """1 - mean pairwise cosine similarity of a list (0 for fewer than two items)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sim = vectors @ vectors.T
    off_diagonal = (sim.sum() - np.trace(sim)) / (n * (n - 1))
    return float(1.0 - off_diagonal)


def relevance(scores: np.ndarray) -> np.ndarray:
    """Scores scaled to [0, 1] (all zeros when they are all equal or not all finite)."""
    low, high = float(np.min(scores)), float(np.max(scores))
    if not np.isfinite(low) or not np.isfinite(high) or high <= low:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: np.ndarray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return out


def _embedding_rows(item_ids: Sequence[str], embeddings: Mapping[str, np.ndarray]) -> np.ndarray:
    dim = len(next(iter(embeddings.values()))) if embeddings else 1
    out = np.zeros((len(item_ids), dim))
    for row, item_id in enumerate(item_ids):
        vector = embeddings.get(item_id)
        if vector is not None:
            out[row] = vector
    return _normalise(out)


class SimilarityReranker(Component):
    """Base of the re-rankers that compare candidates (MMR, DPP): one :class:`ItemSimilarity`.

    Args:
        config: the subclass's config or its dict.
        entities: item metadata for the similarity (tests); otherwise from :meth:`attach`.
        embeddings: item id -> vector to compare instead of category and tags.

    """

    def __init__(
        self,
        config: ComponentConfig | dict[str, Any] | None = None,
        entities: Entities | None = None,
        embeddings: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    ) -> None:
        super().__init__(config)
        self.similarity = ItemSimilarity(entities, embeddings)

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read item metadata from ``catalog`` at request time."""
        self.similarity.attach(catalog, snapshot)
