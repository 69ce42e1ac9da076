"""User-CF recall: what the people who behave like this user consumed lately.

Neighbours are the users with the most similar (cosine) item vectors, precomputed at training
time in row blocks of the sparse product ``X_n @ X_n.T`` (``X_n``: rows L2-normalised, optionally
with inverse-item-frequency column weights). At request time the neighbours' newest items vote,
each weighted by the neighbour's similarity (sharpened by ``q = sim_power``) and the item's
recency::

    score(j) = sum_v sim(u, v) ** q * r_vj,   r_vj = 2 ** (-age of v's last interaction with j / h)

Cost bounds (documented because user-user similarity is quadratic in the worst case):

- training: an item with more than ``max_item_users`` users contributes only a seeded sample of
  them to the similarity product, so the product costs at most ``n_items x max_item_users**2``
  multiply-adds instead of ``sum_i n_i**2``, and a user's row at most ``|I_u| x max_item_users``
  entries (approximate for head items, exact on catalogs without such items — MovieLens-100K
  with the default 300 — and the norms still use the full vectors; 100k users x 100k items x
  2.1M interactions train in about 20 s on one core);
- request, known user: ``neighbours x max_user_items`` entries gathered;
- request, user unknown at training (or not yet in the model): neighbours are found by folding
  in the profile — each of its newest ``max_history`` items lists at most ``index_users`` of
  its most recent users (an item -> users inverted index built at training), and those users
  are scored by their normalised weight on the profile's items: ``max_history x index_users``
  entries, then the same gather as a known user.
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
    BLOCK_NNZ,
    best_candidates,
    column_mask,
    gather,
    recency_weights,
    topk_product,
    topk_rows,
)
from ecorec.recall.metadata import deleted_item_ids


class UserCFConfig(ComponentConfig):
    """Parameters of :class:`UserCFRecall` (defaults tuned on MovieLens-100K, recbole-811).

    Attributes:
        n: candidates returned per request.
        neighbours: similar users kept per user.
        sim_power: a neighbour votes with ``sim ** sim_power``: above 1 the closest neighbours
            dominate (Aiolli's locality exponent).
        iif: weight items by ``1 / log(1 + n_i)`` before the cosine (a shared blockbuster says
            less about taste than a shared niche item).
        max_user_items: a neighbour's newest items that may vote.
        recency_half_life_days: a neighbour's item this old (at training time) votes half
            (0: no decay).
        max_item_users: per-item cap on the users entering the similarity product (a seeded
            sample above it; 0: no cap).
        index_users: users listed per item for folding in unknown users (most recent first).
        max_history: newest profile items used to fold in an unknown user.
        exclude_seen: skip items the user already consumed.
        seed: seed of the head-item sampling.
        block_nnz: cap on the non-zeros of one block of the similarity product.

    """

    n: int = Field(200, gt=0)
    neighbours: int = Field(100, gt=0)
    sim_power: float = Field(3.0, gt=0.0)
    iif: bool = True
    max_user_items: int = Field(200, gt=0)
    recency_half_life_days: float = Field(0.0, ge=0.0)
    max_item_users: int = Field(300, ge=0)
    index_users: int = Field(200, gt=0)
    max_history: int = Field(200, gt=0)
    exclude_seen: bool = True
    seed: int = 0
    block_nnz: int = Field(BLOCK_NNZ, gt=0)


def item_weights(matrix: InteractionMatrix, iif: bool) -> np.ndarray:
    """Per-item weight in the user vectors: ``1 / log(1 + n_i)`` with IIF, else 1."""
    if not iif:
        return np.ones(matrix.n_items)
    weights: np.ndarray = 1.0 / np.log1p(np.maximum(matrix.item_counts(), 1.0))
    return weights


def normalised_rows(matrix: InteractionMatrix, weights: np.ndarray) -> sp.csr_matrix:
    """Binary user vectors times the item ``weights``, each scaled to unit L2 norm."""
    x = matrix.weights.copy().astype(np.float64)
    x.data[:] = 1.0
    x = sp.csr_matrix(x @ sp.diags(weights))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x)


def _cap_item_users(x: sp.csr_matrix, cap: int, seed: int) -> sp.csr_matrix:
    """``x`` keeping at most ``cap`` seeded-random users in each item column."""
    csc = x.tocsc()
    counts = np.diff(csc.indptr)
    if cap <= 0 or counts.max(initial=0) <= cap:
        return x
    rng = np.random.default_rng(seed)
    # a random key per entry; an entry survives if it ranks below cap within its column
    cols = np.repeat(np.arange(csc.shape[1]), counts)
    order = np.lexsort((rng.random(csc.nnz), cols))
    rank = np.empty(csc.nnz, dtype=np.int64)
    rank[order] = np.arange(csc.nnz) - np.repeat(csc.indptr[:-1], counts)
    keep = rank < cap
    capped = sp.csr_matrix(
        (csc.data[keep], (csc.indices[keep], cols[keep])), shape=csc.shape, dtype=csc.dtype
    )
    return capped


def newest_per_row(last_ts: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """The ``keep`` newest entries of each row of a timestamp matrix (values stay timestamps)."""
    last = sp.csr_matrix(last_ts, dtype=np.float64)
    if not last.nnz:
        return last
    # topk_rows keeps positive values only: shift so the oldest timestamp is 1
    offset = float(last.data.min()) - 1.0
    shifted = last.copy()
    shifted.data = shifted.data - offset
    newest = topk_rows(shifted, keep, drop_diagonal=False)
    newest = sp.csr_matrix(newest, dtype=np.float64)
    newest.data += offset
    return newest


class UserCFRecall(Component):
    """Newest items of the user's nearest users (cosine), weighted by similarity and recency.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "a", "b", "b", "b"],
        ...                   "item_id": ["x", "y", "x", "y", "z"]})
        >>> user_cf = UserCFRecall({"n": 5})
        >>> user_cf.train(TrainingData(table=table))
        >>> [c.item_id for c in user_cf(Request("a"), Profile("a", seen={"x", "y"}))]
        ['z']

    """

    name = "user_cf"
    personalized = True
    Config = UserCFConfig
    config: UserCFConfig

    def __init__(self, config: UserCFConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.user_ids: np.ndarray | None = None
        self.item_ids: np.ndarray | None = None
        self.neighbours: sp.csr_matrix | None = None
        self.user_items: sp.csr_matrix | None = None
        self.item_users: sp.csr_matrix | None = None
        self.item_weights: np.ndarray | None = None
        self._users: dict[str, int] = {}
        self._items: dict[str, int] = {}

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Precompute neighbours, each user's newest items and the item -> users index."""
        cfg = self.config
        matrix = InteractionMatrix.build(data, binary=True)
        self.item_weights = item_weights(matrix, cfg.iif)
        xn = normalised_rows(matrix, self.item_weights)
        sample = _cap_item_users(xn, cfg.max_item_users, cfg.seed)
        self.neighbours = topk_product(
            sample, sp.csr_matrix(sample.T), cfg.neighbours, block_nnz=cfg.block_nnz
        )
        recent = newest_per_row(matrix.last_ts, cfg.max_user_items)
        recent.data = recency_weights(recent.data, matrix.now, cfg.recency_half_life_days).astype(
            np.float32
        )
        mask = column_mask(matrix.item_ids, deleted_item_ids(data))
        if mask is not None:  # deleted items are never proposed
            recent = sp.csr_matrix(recent @ sp.diags(mask.astype(np.float32)))
            recent.eliminate_zeros()
        self.user_items = recent
        # the fold-in index lists each item's most recent users, valued by their X_n weight
        newest_users = newest_per_row(matrix.last_ts.T.tocsr(), cfg.index_users)
        newest_users.data[:] = 1.0
        self.item_users = sp.csr_matrix(newest_users.multiply(xn.T.tocsr()), dtype=np.float32)
        self.user_ids, self.item_ids = matrix.user_ids, matrix.item_ids
        self._users = dict(matrix.user_index)
        self._items = dict(matrix.item_index)

    def is_trained(self) -> bool:
        return self.neighbours is not None

    def similar_users(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """(user rows, similarities) of the user's neighbours: precomputed, else folded in."""
        assert self.neighbours is not None and self.item_users is not None
        assert self.item_weights is not None
        row = self._users.get(profile.user_id)
        if row is not None:
            start, stop = self.neighbours.indptr[row], self.neighbours.indptr[row + 1]
            users = self.neighbours.indices[start:stop].astype(np.int64)
            return users, self.neighbours.data[start:stop].astype(np.float64)
        recent = dict.fromkeys(i for i, _ in profile.recent[-self.config.max_history :])
        items = np.fromiter((self._items[i] for i in recent if i in self._items), dtype=np.int64)
        if not len(items):
            return np.empty(0, dtype=np.int64), np.empty(0)
        # cosine of the (IIF-weighted, binary) profile vector with each listed user's vector
        query = self.item_weights[items]
        users, scores = gather(self.item_users, items, query / np.linalg.norm(query))
        if len(users) > self.config.neighbours:
            top = np.argpartition(-scores, self.config.neighbours - 1)[: self.config.neighbours]
            users, scores = users[top], scores[top]
        return users, scores

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.user_items is None or self.item_ids is None:
            raise NotTrainedError(self)
        users, sims = self.similar_users(profile)
        if not len(users):
            return []
        columns, scores = gather(self.user_items, users, sims**self.config.sim_power)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        return best_candidates(self.item_ids, columns, scores, skip, self.config.n, self.name)

    def save(self, folder: Path) -> dict[str, Any]:
        if self.neighbours is None or self.user_items is None or self.item_users is None:
            raise NotTrainedError(self)
        assert self.user_ids is not None and self.item_ids is not None
        assert self.item_weights is not None
        np.save(folder / "user_ids.npy", self.user_ids, allow_pickle=False)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        sp.save_npz(folder / "neighbours.npz", self.neighbours)
        sp.save_npz(folder / "user_items.npz", self.user_items)
        sp.save_npz(folder / "item_users.npz", self.item_users)
        np.save(folder / "item_weights.npy", self.item_weights, allow_pickle=False)
        metrics = {
            "users": int(len(self.user_ids)),
            "items": int(len(self.item_ids)),
            "neighbour_pairs": int(self.neighbours.nnz),
        }
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.user_ids = np.load(folder / "user_ids.npy", allow_pickle=False)
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
        self.neighbours = sp.load_npz(folder / "neighbours.npz").tocsr()
        self.user_items = sp.load_npz(folder / "user_items.npz").tocsr()
        self.item_users = sp.load_npz(folder / "item_users.npz").tocsr()
        self.item_weights = np.load(folder / "item_weights.npy", allow_pickle=False)
        self._users = {str(u): i for i, u in enumerate(self.user_ids)}
        self._items = {str(v): i for i, v in enumerate(self.item_ids)}
