"""EASE recall: Steck's "Embarrassingly Shallow Autoencoders" (WWW 2019).

An item x item linear model with a closed form: with ``X`` the binary users x items matrix,
``P = (X.T X + reg I)^-1`` and ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``. A user's
scores are their row of ``X`` times ``B``: the sum of the ``B`` rows of everything they
consumed. That makes the model real-time for free — a click folds in by adding one row, no
retraining — and it is the strongest classic baseline on MovieLens-size catalogs.

The inverse is dense, ``O(n_items**3)`` time and ``O(n_items**2)`` memory, so the channel
refuses catalogs above ``max_items``; item-CF serves large catalogs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.matrix import InteractionMatrix
from ecorec.data.training import TrainingData
from ecorec.recall._neighbours import (
    best_candidates,
    column_mask,
    gather,
    topk_rows,
)
from ecorec.recall.metadata import deleted_item_ids


class EASEConfig(ComponentConfig):
    """Parameters of :class:`EASERecall`.

    Attributes:
        n: candidates returned per request.
        reg: the L2 penalty ``lambda`` of the paper (hundreds for binary data of
            MovieLens-100K size; grows with the data).
        max_items: largest catalog accepted (dense inverse: ``8 * n**2`` bytes, cubic time).
        keep_top: keep only the ``keep_top`` largest weights of each row of ``B`` as a sparse
            matrix (0: keep ``B`` dense, float32).
        exclude_seen: skip items the user already consumed.

    """

    n: int = Field(200, gt=0)
    reg: float = Field(500.0, gt=0.0)
    max_items: int = Field(20_000, gt=0)
    keep_top: int = Field(0, ge=0)
    exclude_seen: bool = True


def ease_weights(x: sp.spmatrix, reg: float) -> np.ndarray:
    """The EASE item-item matrix ``B`` for the users x items matrix ``x`` (float64)."""
    binary = sp.csr_matrix(x, dtype=np.float64)
    gram = np.asarray((binary.T @ binary).toarray())
    gram[np.diag_indices_from(gram)] += reg
    precision = np.linalg.inv(gram)
    weights: np.ndarray = precision / -np.diag(precision)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


class EASERecall(Component):
    """Items scored by the sum of the ``B`` rows of everything the user consumed.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "a", "b", "b", "c"],
        ...                   "item_id": ["x", "y", "x", "y", "z"]})
        >>> ease = EASERecall({"n": 1, "reg": 1.0})
        >>> ease.train(TrainingData(table=table))
        >>> [c.item_id for c in ease(Request("d"), Profile("d", seen={"x"}))]
        ['y']

    """

    name = "ease"
    personalized = True
    Config = EASEConfig
    config: EASEConfig

    def __init__(self, config: EASEConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.weights: np.ndarray | sp.csr_matrix | None = None
        self.servable: np.ndarray | None = None
        self._index: dict[str, int] = {}

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Solve the closed form on the binary interaction matrix.

        Raises:
            ValueError: no interactions, or more items than ``max_items``.

        """
        matrix = InteractionMatrix.build(data, binary=True)
        if matrix.n_items > self.config.max_items:
            raise ValueError(
                f"ease: {matrix.n_items} items is above max_items={self.config.max_items}; "
                "EASE inverts a dense items x items matrix (cubic time, "
                f"{8 * matrix.n_items**2 / 1e9:.1f} GB): use item_cf for large catalogs "
                "or raise max_items"
            )
        dense = ease_weights(matrix.weights, self.config.reg)
        mask = column_mask(matrix.item_ids, deleted_item_ids(data))
        self.servable = np.ones(matrix.n_items, dtype=bool) if mask is None else mask
        if self.config.keep_top:
            dense[:, ~self.servable] = 0.0
            self.weights = topk_rows(sp.csr_matrix(dense), self.config.keep_top)
        else:
            self.weights = dense.astype(np.float32)
        self.item_ids = matrix.item_ids
        self._index = dict(matrix.item_index)

    def is_trained(self) -> bool:
        return self.weights is not None

    def _rows(self, item_ids: set[str]) -> np.ndarray:
        rows = [self._index[i] for i in item_ids if i in self._index]
        return np.asarray(sorted(rows), dtype=np.int64)

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.weights is None or self.item_ids is None or self.servable is None:
            raise NotTrainedError(self)
        # the user's row of X: everything consumed (profile.recent may hold clicks that the
        # store has not folded into seen yet)
        history = profile.seen | set(profile.recent_item_ids)
        rows = self._rows(history)
        if not len(rows):
            return []
        n = self.config.n
        if isinstance(self.weights, sp.csr_matrix):
            columns, scores = gather(self.weights, rows, np.ones(len(rows)))
            skip = profile.negatives | history if self.config.exclude_seen else profile.negatives
            return best_candidates(self.item_ids, columns, scores, skip, n, self.name)
        scores = self.weights[rows].sum(axis=0, dtype=np.float64)
        scores[~self.servable] = -np.inf
        scores[self._rows(profile.negatives)] = -np.inf
        if self.config.exclude_seen:
            scores[rows] = -np.inf
        columns = np.arange(len(scores))
        return best_candidates(self.item_ids, columns, scores, (), n, self.name)

    def save(self, folder: Path) -> dict[str, Any]:
        if self.weights is None or self.item_ids is None or self.servable is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "servable.npy", self.servable, allow_pickle=False)
        if isinstance(self.weights, sp.csr_matrix):
            sp.save_npz(folder / "weights.npz", self.weights)
        else:
            np.save(folder / "weights.npy", self.weights, allow_pickle=False)
        metrics = {"items": int(len(self.item_ids)), "reg": self.config.reg}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
        self.servable = np.load(folder / "servable.npy", allow_pickle=False)
        if (folder / "weights.npz").exists():
            self.weights = sp.load_npz(folder / "weights.npz").tocsr()
        else:
            self.weights = np.load(folder / "weights.npy", allow_pickle=False)
        self._index = {str(item_id): i for i, item_id in enumerate(self.item_ids)}
