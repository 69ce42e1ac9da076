"""Evaluation protocols: a dataset cut into train/valid/test in the shapes every scorer needs.

One :class:`EvalSplit` feeds ecorec's channels (through :class:`TrainingData` and per-user
:class:`Profile` objects) and the peers of a benchmark (through index arrays), so both are
measured on exactly the same rows with exactly the same masks (DESIGN.md §6):

* ``recbole-811`` (P1): every interaction an implicit positive; per-user random 8:1:1 split
  with a fixed seed; full ranking over the catalog; the valid part masks train items, the test
  part masks train + valid items.
* ``leave-last-out``: each user's last interaction is test, the one before valid.

A relevant item is a part's item the user has not already got in the masked parts (a repeat
of a training interaction can never be recommended, so it can never be found); users left
without a relevant item are not evaluated, as in RecBole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ecorec.core.profile import RECENT_LIMIT, Profile
from ecorec.data.datasets import Dataset, DatasetError, detect_format, load_dataset
from ecorec.data.split import split_leave_last_out, split_ratio
from ecorec.data.training import TrainingData
from ecorec.metrics.accuracy import hit_matrix, topk_metrics
from ecorec.metrics.beyond_accuracy import (
    exposure_gini,
    item_coverage,
    long_tail_mask,
    long_tail_share,
)

#: Protocols :func:`prepare_split` knows; ``ctr-temporal`` belongs to ranking evaluation.
PROTOCOLS = ("recbole-811", "leave-last-out")
#: The seed of protocol P1 (RecBole's default seed).
DEFAULT_SEED = 2020
#: Accuracy metrics of a recall evaluation, as ``(family, k)``.
ACCURACY = (("recall", 10), ("ndcg", 10), ("mrr", 10), ("hit", 10), ("recall", 50), ("recall", 200))
#: The longest list any metric reads (the candidate set of recall@200).
K_MAX = max(k for _, k in ACCURACY)
PARTS = ("valid", "test")


@dataclass
class EvalSplit:
    """A dataset split by one protocol, indexed for scoring.

    Attributes:
        item_ids: the catalog (every item of the dataset, sorted); an item's index is its
            position here, and metrics like coverage use its length as the catalog size.
        history: each user's train items ``(item_id, ts)``, oldest first.
        relevant: per part, each evaluated user's relevant item indices.
        train_counts: training interactions per catalog item (the popularity of long tail).
        now: one second after the newest training interaction, the time of every request.
        valid_items: each user's valid-part items (masked on test).

    """

    protocol: str
    data: str
    seed: int
    dataset: Dataset
    train: pa.Table
    valid: pa.Table
    test: pa.Table
    item_ids: np.ndarray
    history: dict[str, list[tuple[str, float]]]
    relevant: dict[str, dict[str, np.ndarray]]
    train_counts: np.ndarray
    now: float
    item_index: dict[str, int] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    valid_items: dict[str, set[str]] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def tail(self) -> np.ndarray:
        """Long-tail mask over the catalog (outside the top 20% by training interactions)."""
        return long_tail_mask(self.train_counts)

    def users(self, part: str = "test") -> list[str]:
        """Users evaluated on ``part``: those with at least one relevant item there."""
        return list(self.relevant[_part(part)])

    def masked(self, user_id: str, part: str = "test") -> set[str]:
        """Items never to credit for ``user_id`` on ``part``: train (+ valid for test)."""
        seen = {item for item, _ in self.history.get(user_id, ())}
        if _part(part) == "test":
            seen |= self.valid_items.get(user_id, set())
        return seen

    def max_masked_extra(self, part: str = "test") -> int:
        """Most valid items of one user: how far past K a channel list may need to reach."""
        if _part(part) != "test" or not self.valid_items:
            return 0
        return max(len(items) for items in self.valid_items.values())

    def profile(self, user_id: str) -> Profile:
        """The profile a user has after their training interactions (a fresh object)."""
        pairs = self.history.get(user_id, [])
        interests: dict[str, float] = {}
        for item, _ in pairs:
            category = self.categories.get(item)
            if category is not None:
                interests[category] = interests.get(category, 0.0) + 1.0
        return Profile(
            user_id,
            recent=list(pairs[-RECENT_LIMIT:]),
            seen={item for item, _ in pairs},
            interests=interests,
        )

    def training_data(self) -> TrainingData:
        """What channels learn from: the train part plus the dataset's user/item metadata."""
        users, items = self.dataset.complete_entities()
        return TrainingData(table=self.train, items=items, users=users)

    def indices(
        self, lists: Mapping[str, Sequence[str]], users: Sequence[str], k: int
    ) -> np.ndarray:
        """``(users, k)`` item indices of ranked id lists, ``-1`` padding (unknown ids too)."""
        out = np.full((len(users), k), -1, dtype=np.int64)
        index = self.item_index
        for row, user in enumerate(users):
            ranked = [index.get(item, -1) for item in list(lists.get(user, ()))[:k]]
            out[row, : len(ranked)] = ranked
        return out

    def score(
        self, recommended: np.ndarray, part: str = "test", users: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Every recall metric of ``recommended`` (rows in the order of ``users``)."""
        users = list(users) if users is not None else self.users(part)
        relevant = self.relevant[_part(part)]
        if recommended.shape[0] != len(users):
            raise ValueError(f"{recommended.shape[0]} ranked lists for {len(users)} users")
        rows = np.repeat(np.arange(len(users)), [len(relevant[u]) for u in users])
        items = np.concatenate([relevant[u] for u in users]) if users else np.empty(0, np.int64)
        n_relevant = np.array([len(relevant[u]) for u in users])
        padded = _pad(recommended, K_MAX)
        hits = hit_matrix(padded, rows, items)
        out = topk_metrics(hits, n_relevant, ACCURACY) if users else {}
        tail = self.tail
        # the top 10's figures first: the set's (all K_MAX slots) are the headline ones
        out["coverage@10"] = item_coverage(padded[:, :10], self.n_items)
        out["long_tail_share@10"] = long_tail_share(padded[:, :10], tail)
        out["coverage"] = item_coverage(padded, self.n_items)
        out["long_tail_share"] = long_tail_share(padded, tail)
        out["gini"] = exposure_gini(padded, self.n_items)
        return {name: round(value, 6) for name, value in out.items()}

    def train_matrix(self) -> tuple[list[str], sp.csr_matrix]:
        """Binary users x catalog matrix of the train part (for peers that score matrices).

        Returns:
            The row order (every user with training interactions) and the CSR matrix.

        """
        users = sorted(self.history, key=_natural)
        rows = np.repeat(np.arange(len(users)), [len(self.history[u]) for u in users])
        cols = [self.item_index[i] for u in users for i, _ in self.history[u]]
        matrix = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(users), self.n_items)
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return users, matrix

    def rank(self, scores: np.ndarray, users: Sequence[str], part: str = "test") -> np.ndarray:
        """Top-:data:`K_MAX` item indices of full-catalog ``scores`` with ``part``'s mask applied.

        Args:
            scores: ``(len(users), n_items)`` scores, higher is better.
            users: the user of each row.
            part: whose mask applies (train for valid, train + valid for test).

        Returns:
            ``(len(users), K_MAX)`` indices, best first (``-1`` past the unmasked items).

        """
        scores = np.array(scores, dtype=np.float64, copy=True)
        for row, user in enumerate(users):
            masked = [self.item_index[i] for i in self.masked(user, part) if i in self.item_index]
            scores[row, masked] = -np.inf
        k = min(K_MAX, self.n_items)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-picked, axis=1, kind="stable")
        ranked = np.take_along_axis(top, order, axis=1)
        ranked[np.take_along_axis(picked, order, axis=1) == -np.inf] = -1
        return _pad(ranked, K_MAX)

    def summary(self) -> dict[str, Any]:
        """Sizes and seed of the split, for reports."""
        return {
            "train": self.train.num_rows,
            "valid": self.valid.num_rows,
            "test": self.test.num_rows,
            "users": len(self.history),
            "items": self.n_items,
            "test_users": len(self.relevant["test"]),
            "seed": self.seed,
        }


def _part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    return part


def _pad(recommended: np.ndarray, width: int) -> np.ndarray:
    recommended = np.asarray(recommended, dtype=np.int64)[:, :width]
    if recommended.shape[1] == width:
        return recommended
    out = np.full((recommended.shape[0], width), -1, dtype=np.int64)
    out[:, : recommended.shape[1]] = recommended
    return out


def load_data(path: str) -> Dataset:
    """Load ``path`` in whatever format it is (RecBole folder, MovieLens file, CSV, Parquet)."""
    dataset = load_dataset(path, detect_format(path))
    if dataset.n_interactions == 0:
        raise DatasetError("no interactions to evaluate on", path)
    return dataset


def prepare_split(
    data: str | Dataset, protocol: str = "recbole-811", seed: int = DEFAULT_SEED
) -> EvalSplit:
    """Load ``data`` (a path or a loaded dataset) and split it by ``protocol``.

    Raises:
        ValueError: an unknown protocol (the message lists the known ones).
        DatasetError: a file that cannot be read as interactions.

    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    dataset = load_data(data) if isinstance(data, str) else data
    table = dataset.interactions.select(["user_id", "item_id", "rating", "timestamp"])
    if protocol == "recbole-811":
        train, valid, test = split_ratio(table, (0.8, 0.1, 0.1), seed)
    else:
        train, valid, test = split_leave_last_out(table)
    item_ids = np.asarray(dataset.item_ids(), dtype=str)
    index = {str(item): i for i, item in enumerate(item_ids)}
    history = _history(train)
    valid_items = _items_by_user(valid)
    masks = {"valid": {u: {i for i, _ in h} for u, h in history.items()}}
    masks["test"] = {
        u: masks["valid"].get(u, set()) | valid_items.get(u, set())
        for u in set(masks["valid"]) | set(valid_items)
    }
    relevant = {
        part: _relevant(_items_by_user(rows), masks[part], index)
        for part, rows in (("valid", valid), ("test", test))
    }
    counts = np.bincount(
        [index[i] for i in train.column("item_id").to_pylist()], minlength=len(item_ids)
    )
    newest = pc.max(pc.fill_null(train.column("timestamp"), 0.0)).as_py() if train.num_rows else 0
    return EvalSplit(
        protocol=protocol,
        data=data if isinstance(data, str) else dataset.name,
        seed=seed,
        dataset=dataset,
        train=train,
        valid=valid,
        test=test,
        item_ids=item_ids,
        history=history,
        relevant=relevant,
        train_counts=counts,
        now=float(newest or 0.0) + 1.0,
        item_index=index,
        categories={i.item_id: i.category for i in dataset.items if i.category is not None},
        valid_items=valid_items,
    )


def _history(table: pa.Table) -> dict[str, list[tuple[str, float]]]:
    """Each user's (item, ts) pairs oldest first; rows without a time keep table order."""
    users = table.column("user_id").to_pylist()
    items = table.column("item_id").to_pylist()
    stamps = pc.fill_null(table.column("timestamp"), 0.0).to_pylist()
    order = np.argsort(np.asarray(stamps, dtype=np.float64), kind="stable")
    out: dict[str, list[tuple[str, float]]] = {}
    for row in order:
        out.setdefault(users[row], []).append((items[row], float(stamps[row])))
    return out


def _items_by_user(table: pa.Table) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    users = table.column("user_id").to_pylist()
    for user, item in zip(users, table.column("item_id").to_pylist(), strict=True):
        out.setdefault(user, set()).add(item)
    return out


def _relevant(
    items: dict[str, set[str]], masks: dict[str, set[str]], index: dict[str, int]
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for user in sorted(items, key=_natural):
        kept = sorted(index[i] for i in items[user] - masks.get(user, set()))
        if kept:
            out[user] = np.asarray(kept, dtype=np.int64)
    return out


def _natural(user_id: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the rest (a stable, readable user order)."""
    return (0, int(user_id)) if user_id.isdigit() else (1, user_id)
