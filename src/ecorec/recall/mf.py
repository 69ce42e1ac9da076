"""ALS recall: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) via ``implicit``.

Training factorises the binary user x item matrix with confidence ``alpha`` on observed pairs;
the item factors go into an :class:`~ecorec.recall.ann.AnnIndex`. At request time the user's
vector is not looked up but *folded in*: the closed-form ALS user step solved against the fixed
item factors for the items in the live profile (the same solve ``implicit``'s
``recalculate_user`` does). So a click recorded a moment ago moves the next request's
candidates, a user unknown at training time is served as soon as they consumed a known item,
and a known user with an unchanged history gets one more ALS user step against the final item
factors (what training would have stored after a last half-sweep).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from threadpoolctl import threadpool_limits

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.matrix import InteractionMatrix
from ecorec.data.training import TrainingData
from ecorec.recall._embedding import OneBlasThread, history, index_items, serve
from ecorec.recall.ann import AnnConfig, AnnIndex
from ecorec.recall.metadata import deleted_item_ids

log = logging.getLogger(__name__)


class ALSConfig(ComponentConfig):
    """Factorisation and serving parameters of :class:`ALSRecall`.

    The defaults are tuned on MovieLens-100K (protocol ``recbole-811``, grid over factors
    32/64/128, regularization 1-200, alpha 1-20 on the validation split): implicit's default
    ``regularization=0.01`` is far too weak there; ``regularization / alpha`` near 10 is best.

    Attributes:
        n: candidates returned per request.
        exclude_seen: skip items the user already consumed (merge would drop them anyway).
        factors: latent dimension (the ANN vectors' width).
        regularization: L2 weight on user and item factors.
        alpha: confidence of an observed pair (implicit's ``C = alpha * R``); unobserved
            pairs have confidence 1.
        iterations: ALS sweeps (users then items).
        seed: seeds the factor initialisation (``random_state`` of implicit).
        max_history: a user's vector is folded in from every consumed item up to this many;
            past it, from the newest ``max_history`` items of ``profile.recent`` (keeps the
            request O(history), not O(all-time consumption)).
        num_threads: implicit's fitting threads (0: every core).
        ann: the index the item factors are served from.

    """

    n: int = Field(default=200, gt=0)
    exclude_seen: bool = True
    factors: int = Field(default=64, gt=0)
    regularization: float = Field(default=20.0, ge=0)
    alpha: float = Field(default=2.0, gt=0)
    iterations: int = Field(default=15, ge=1)
    seed: int = 0
    max_history: int = Field(default=1000, gt=0)
    num_threads: int = Field(default=0, ge=0)
    ann: AnnConfig = Field(default_factory=AnnConfig)


class ALSRecall(Component):
    """Items nearest to the ALS user vector folded in from the live profile.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "a", "b", "b", "c"],
        ...                   "item_id": ["x", "y", "x", "y", "z"],
        ...                   "rating": [1.0] * 5, "timestamp": [0.0] * 5})
        >>> als = ALSRecall({"n": 1, "factors": 4, "regularization": 0.01,
        ...                  "ann": {"kind": "flat"}})
        >>> als.train(TrainingData(table=table))
        >>> [c.item_id for c in als(Request("new"), Profile("new", recent=[("x", 1.0)],
        ...                                                   seen={"x"}))]
        ['y']

    """

    name = "als"
    personalized = True
    Config = ALSConfig
    config: ALSConfig

    def __init__(self, config: ALSConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None
        self.index: AnnIndex | None = None
        self._item_index: dict[str, int] = {}
        self._gram: np.ndarray | None = None
        self.metrics: dict[str, Any] = {}
        self._one_blas_thread = OneBlasThread()

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Factorise ``data``'s interactions and index the non-deleted items' factors.

        Raises:
            ValueError: when ``data`` has no interaction.

        """
        # imported here: implicit loads OpenMP/BLAS libraries that `ecorec info` need not pay for
        from implicit.cpu.als import AlternatingLeastSquares

        start = time.perf_counter()
        try:
            matrix = InteractionMatrix.build(data, binary=True)
        except ValueError as error:
            raise ValueError(f"als: {error}") from error
        # implicit parallelises over users itself; threaded BLAS inside would oversubscribe
        # (and its constructor warns about it, hence the constructor inside the limit too)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.config.factors,
                regularization=self.config.regularization,
                alpha=self.config.alpha,
                iterations=self.config.iterations,
                random_state=self.config.seed,
                num_threads=self.config.num_threads,
            )
            model.fit(matrix.weights, show_progress=False)
        factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        index = AnnIndex(self.config.ann)
        index_items(index, matrix.item_ids, factors, deleted_item_ids(data))
        self._set(matrix.item_ids, factors, index)
        self.metrics = {
            "users": matrix.n_users,
            "items": matrix.n_items,
            "indexed": len(index),
            "train_seconds": round(time.perf_counter() - start, 3),
        }
        log.info("als: trained %s", self.metrics)

    def is_trained(self) -> bool:
        return self.index is not None

    def user_vector(self, profile: Profile) -> np.ndarray | None:
        """The ALS user step for the profile's items, or None when it has no known item.

        Solves ``(YᵀY + Yₛᵀ(C-I)Yₛ + λI) x = Yₛᵀ C 1`` over the history ``S`` with the
        training confidence ``C = alpha``: what the final ALS sweep would give this user.
        """
        if self.item_factors is None or self._gram is None:
            raise NotTrainedError(self)
        items = history(profile, self.config.max_history)
        rows = [self._item_index[i] for i in items if i in self._item_index]
        if not rows:
            return None
        alpha = self.config.alpha
        picked = self.item_factors[rows].astype(np.float64)
        lhs = self._gram + (alpha - 1.0) * (picked.T @ picked)
        rhs = alpha * picked.sum(axis=0)
        vector: np.ndarray = np.linalg.solve(lhs, rhs).astype(np.float32)
        return vector

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.index is None:
            raise NotTrainedError(self)
        with self._one_blas_thread():
            query = self.user_vector(profile)
            return serve(
                self.index, query, profile, self.config.n, self.config.exclude_seen, self.name
            )

    def save(self, folder: Path) -> dict[str, Any]:
        if self.index is None or self.item_ids is None or self.item_factors is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "item_factors.npy", self.item_factors, allow_pickle=False)
        self.index.save(folder, "ann")
        (folder / "meta.json").write_text(json.dumps(self.metrics))
        return dict(self.metrics)

    def load(self, folder: Path) -> None:
        self._set(
            np.load(folder / "item_ids.npy", allow_pickle=False),
            np.load(folder / "item_factors.npy", allow_pickle=False),
            AnnIndex.load(folder, "ann"),
        )
        self.metrics = json.loads((folder / "meta.json").read_text())

    def _set(self, item_ids: np.ndarray, factors: np.ndarray, index: AnnIndex) -> None:
        # every trained item (deleted ones too) keeps its factor: history still counts
        self.item_ids, self.item_factors, self.index = item_ids, factors, index
        self._item_index = {str(item): row for row, item in enumerate(item_ids)}
        gram = factors.T.astype(np.float64) @ factors.astype(np.float64)
        self._gram = gram + self.config.regularization * np.eye(len(gram))
