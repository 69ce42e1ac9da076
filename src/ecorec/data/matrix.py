"""The user x item interaction matrix every collaborative channel learns from.

Item-CF, User-CF, ALS, EASE, the two-tower model, LightGCN and the offline evaluation all need
the same thing: string ids mapped to dense indices and a sparse matrix of (optionally
time-decayed) interaction weights. Building it once here keeps them consistent — the same
ids, the same decay, the same dedupe — and keeps each channel about its own algorithm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ecorec.core.events import POSITIVE_TYPES
from ecorec.data.training import TrainingData

_DAY = 86_400.0


@dataclass
class InteractionMatrix:
    """Users x items, one cell per (user, item) pair that interacted.

    Attributes:
        user_ids, item_ids: index -> id (numpy unicode arrays).
        weights: CSR float32 matrix; a cell is the sum of the pair's (decayed) interactions,
            or 1.0 when built with ``binary=True``.
        last_ts: CSR float64 matrix with the same pattern: the pair's latest timestamp.
        now: the reference time of the decay.

    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: sp.csr_matrix
    last_ts: sp.csr_matrix
    now: float = 0.0
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def user_index(self) -> dict[str, int]:
        """Id -> row index (built on first use)."""
        if not self._user_index:
            self._user_index = {str(u): i for i, u in enumerate(self.user_ids)}
        return self._user_index

    @property
    def item_index(self) -> dict[str, int]:
        """Id -> column index (built on first use)."""
        if not self._item_index:
            self._item_index = {str(v): i for i, v in enumerate(self.item_ids)}
        return self._item_index

    def item_counts(self) -> np.ndarray:
        """Number of users per item (the popularity that normalisations use)."""
        counts: np.ndarray = np.diff(self.weights.tocsc().indptr).astype(np.float64)
        return counts

    def user_items(self, user_id: str) -> np.ndarray:
        """Column indices of the items ``user_id`` interacted with (empty if unknown)."""
        row = self.user_index.get(user_id)
        if row is None:
            return np.empty(0, dtype=np.int64)
        start, stop = self.weights.indptr[row], self.weights.indptr[row + 1]
        return np.asarray(self.weights.indices[start:stop], dtype=np.int64)

    def indices_of(self, item_ids: Iterable[str]) -> np.ndarray:
        """Column indices of the known ids among ``item_ids``, in order (unknown ids dropped)."""
        index = self.item_index
        return np.fromiter((index[i] for i in item_ids if i in index), dtype=np.int64)

    @classmethod
    def build(
        cls,
        data: TrainingData,
        types: Iterable[str] = POSITIVE_TYPES,
        half_life_days: float = 0.0,
        binary: bool = False,
        item_ids: Iterable[str] | None = None,
    ) -> InteractionMatrix:
        """Read every interaction of ``types`` from ``data`` into a matrix.

        Args:
            data: where interactions come from.
            types: event types that count as interactions.
            half_life_days: an interaction this old weighs half (0: no decay).
            binary: every interacting pair weighs 1.0 (repeats and decay ignored).
            item_ids: extra items to give a column even without interactions (the catalog),
                so cold items exist for content-based channels and for evaluation.

        Raises:
            ValueError: when there is no interaction at all.

        """
        tables = [t.select(["user_id", "item_id", "ts"]) for t in data.interactions(types)]
        table = pa.concat_tables(tables) if tables else None
        if table is None or table.num_rows == 0:
            raise ValueError(
                "no interactions to learn from: the dataset is empty "
                "(ingest or generate data first)"
            )
        users = pc.dictionary_encode(table.column("user_id")).combine_chunks()
        items = pc.dictionary_encode(table.column("item_id")).combine_chunks()
        user_ids = np.asarray(users.dictionary.to_pylist(), dtype=str)
        item_list = items.dictionary.to_pylist()
        rows = users.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        cols = items.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if item_ids is not None:
            known = set(item_list)
            item_list += [i for i in dict.fromkeys(item_ids) if i not in known]
        ts = table.column("ts").to_numpy(zero_copy_only=False).astype(np.float64)
        now = data.end if data.end is not None else float(ts.max())
        if binary:
            values = np.ones(len(ts), dtype=np.float64)
        elif half_life_days > 0:
            values = np.exp2(-np.maximum(now - ts, 0.0) / (half_life_days * _DAY))
        else:
            values = np.ones(len(ts), dtype=np.float64)
        shape = (len(user_ids), len(item_list))
        weights = sp.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float64)
        weights.sum_duplicates()
        if binary:
            weights.data[:] = 1.0
        last = _max_duplicates(rows, cols, ts, shape)
        return cls(
            user_ids, np.asarray(item_list, dtype=str), weights.astype(np.float32), last, now
        )

    def save(self, folder: Path, prefix: str = "matrix") -> None:
        """Write arrays (``.npy``/``.npz``, no pickle) into ``folder``."""
        np.save(folder / f"{prefix}_user_ids.npy", self.user_ids, allow_pickle=False)
        np.save(folder / f"{prefix}_item_ids.npy", self.item_ids, allow_pickle=False)
        sp.save_npz(folder / f"{prefix}_weights.npz", self.weights)
        sp.save_npz(folder / f"{prefix}_last_ts.npz", self.last_ts)
        np.save(folder / f"{prefix}_now.npy", np.array([self.now]), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, prefix: str = "matrix") -> InteractionMatrix:
        """Read what :meth:`save` wrote."""
        return cls(
            np.load(folder / f"{prefix}_user_ids.npy", allow_pickle=False),
            np.load(folder / f"{prefix}_item_ids.npy", allow_pickle=False),
            sp.load_npz(folder / f"{prefix}_weights.npz").tocsr(),
            sp.load_npz(folder / f"{prefix}_last_ts.npz").tocsr(),
            float(np.load(folder / f"{prefix}_now.npy", allow_pickle=False)[0]),
        )


def _max_duplicates(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix keeping the largest value of duplicate cells (scipy would sum them)."""
    order = np.lexsort((values, cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sp.csr_matrix((values[last], (rows[last], cols[last])), shape=shape)
