"""Session recall: what tends to come next after the items of the current session.

The channel for a brand-new user: within a few clicks of their first visit it has something
better than "popular" to say, because it needs no history — only the session under way.

Training splits each user's interaction stream into sessions at every inactivity gap longer
than ``gap_minutes`` and counts, inside a session, every ordered pair of items at most
``window`` positions apart, weighted ``1 / distance`` (a forward transition ``i -> j``) or
``backward_weight / distance`` (``j`` came before ``i``). Counts are normalised like item-CF,
``c_ij / (n_i ** alpha * n_j ** (1 - alpha))`` with ``n_i`` the item's session occurrences, and
each item keeps its ``neighbours`` best followers. Consecutive repeats of one item (a click, a
play and a like of the same video) collapse into one step.

Defaults were tuned for next-item prediction on MovieLens-100K (leave-last-out, valid part);
the pair arrays of one distance at a time are held in memory (``O(interactions)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
    load_neighbours,
    save_neighbours,
    topk_rows,
)
from ecorec.recall.metadata import deleted_item_ids


class SessionConfig(ComponentConfig):
    """Parameters of :class:`SessionRecall`.

    Attributes:
        n: candidates returned per request.
        gap_minutes: inactivity that ends a session (training and request time).
        window: items at most this many positions apart in a session co-occur.
        backward_weight: weight of a pair seen in reverse order (1: symmetric co-occurrence,
            0: next-item transitions only).
        alpha: popularity normalisation exponent (0.5: cosine-like; 1: conditional frequency).
        neighbours: followers kept per item.
        max_session_items: newest session items that vote.
        position_decay: the k-th newest session item votes ``position_decay ** k``.
        exclude_seen: skip items the user consumed (and the session's own items).

    """

    n: int = Field(200, gt=0)
    gap_minutes: float = Field(30.0, gt=0.0)
    window: int = Field(10, gt=0)
    backward_weight: float = Field(0.5, ge=0.0)
    alpha: float = Field(0.7, ge=0.0, le=1.0)
    neighbours: int = Field(100, gt=0)
    max_session_items: int = Field(20, gt=0)
    position_decay: float = Field(0.85, gt=0.0, le=1.0)
    exclude_seen: bool = True


def _indices(column: pa.ChunkedArray | pa.Array, ids: pa.Array) -> np.ndarray:
    """Positions of ``column``'s values in ``ids`` (the matrix's id order), -1 when absent."""
    found = pc.fill_null(pc.index_in(column, value_set=ids), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def session_streams(
    data: TrainingData, matrix: InteractionMatrix, gap_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every interaction as (session id, item index), in session then time order.

    Consecutive repeats of an item within a session are dropped.
    """
    user_ids = pa.array(matrix.user_ids.tolist(), pa.string())
    item_ids = pa.array(matrix.item_ids.tolist(), pa.string())
    users, items, stamps = [], [], []
    for batch in data.interactions():
        if batch.num_rows:
            users.append(_indices(batch.column("user_id"), user_ids))
            items.append(_indices(batch.column("item_id"), item_ids))
            stamps.append(batch.column("ts").to_numpy(zero_copy_only=False).astype(np.float64))
    user, item, ts = np.concatenate(users), np.concatenate(items), np.concatenate(stamps)
    # events appended to a live log after the matrix was read have no index yet
    known = (user >= 0) & (item >= 0)
    user, item, ts = user[known], item[known], ts[known]
    order = np.lexsort((item, ts, user))
    user, item, ts = user[order], item[order], ts[order]
    starts = np.ones(len(user), dtype=bool)
    starts[1:] = (user[1:] != user[:-1]) | (ts[1:] - ts[:-1] > gap_seconds)
    session = np.cumsum(starts)
    keep = np.ones(len(item), dtype=bool)
    keep[1:] = (item[1:] != item[:-1]) | starts[1:]
    return session[keep], item[keep]


def transition_counts(
    session: np.ndarray, item: np.ndarray, n_items: int, window: int, backward: float
) -> sp.csr_matrix:
    """Distance-weighted within-session pair counts, rows = earlier item (one pass per gap)."""
    counts = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    for d in range(1, window + 1):
        if d >= len(item):
            break
        same = (session[d:] == session[:-d]) & (item[d:] != item[:-d])
        first, then = item[:-d][same], item[d:][same]
        weights = np.full(len(first), 1.0 / d)
        counts = counts + sp.csr_matrix((weights, (first, then)), shape=(n_items, n_items))
        if backward > 0:
            counts = counts + sp.csr_matrix(
                (weights * backward, (then, first)), shape=(n_items, n_items)
            )
    return sp.csr_matrix(counts)


class SessionRecall(Component):
    """Followers of the current session's items, the newest item voting most.

    ``personalized`` is True: the channel uses nothing stored about the user, but it does use
    their behaviour (the items of this session), so a user who refused personalisation must
    not get it — merge drops personalised channels for them.

    The session is ``request.context["session_items"]`` (ids, newest last) when the caller
    gives it, else the tail of ``profile.recent`` whose items are chained by gaps of at most
    ``gap_minutes`` and whose newest item is within ``gap_minutes`` of ``request.ts`` (when the
    request carries a time).

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "x", "y"],
        ...                   "timestamp": [0.0, 60.0, 0.0, 60.0]})
        >>> session = SessionRecall({"n": 5})
        >>> session.train(TrainingData(table=table))
        >>> request = Request("new", context={"session_items": ["x"]})
        >>> [c.item_id for c in session(request, Profile("new"))]
        ['y']

    """

    name = "session"
    personalized = True
    Config = SessionConfig
    config: SessionConfig

    def __init__(self, config: SessionConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.neighbours: sp.csr_matrix | None = None
        self._index: dict[str, int] = {}

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Split streams into sessions, count within-session pairs, keep top followers."""
        cfg = self.config
        matrix = InteractionMatrix.build(data, binary=True)
        session, item = session_streams(data, matrix, cfg.gap_minutes * 60.0)
        counts = transition_counts(session, item, matrix.n_items, cfg.window, cfg.backward_weight)
        occurrences = np.maximum(np.bincount(item, minlength=matrix.n_items), 1).astype(float)
        scale_cols = occurrences ** (cfg.alpha - 1.0)
        mask = column_mask(matrix.item_ids, deleted_item_ids(data))
        if mask is not None:
            scale_cols = np.where(mask, scale_cols, 0.0)
        similarity = sp.diags(occurrences**-cfg.alpha) @ counts @ sp.diags(scale_cols)
        self.neighbours = topk_rows(similarity, cfg.neighbours)
        self.item_ids = matrix.item_ids
        self._index = dict(matrix.item_index)

    def is_trained(self) -> bool:
        return self.neighbours is not None

    def session_items(self, request: Request, profile: Profile) -> list[str]:
        """The current session's item ids, newest last."""
        given = request.context.get("session_items")
        if given is not None:
            return [str(item_id) for item_id in given]
        gap = self.config.gap_minutes * 60.0
        out: list[str] = []
        reference = request.ts if request.ts > 0 else None
        for item_id, ts in reversed(profile.recent):
            if reference is not None and reference - ts > gap:
                break
            out.append(item_id)
            reference = ts
        out.reverse()
        return out

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.neighbours is None or self.item_ids is None:
            raise NotTrainedError(self)
        items = self.session_items(request, profile)
        # newest occurrence of each item, newest first, capped
        newest = list(dict.fromkeys(reversed(items)))[: self.config.max_session_items]
        rows = [self._index[i] for i in newest if i in self._index]
        if not rows:
            return []
        weights = self.config.position_decay ** np.arange(len(rows), dtype=np.float64)
        columns, scores = gather(self.neighbours, np.asarray(rows), weights)
        skip = set(profile.negatives)
        if self.config.exclude_seen:
            skip |= profile.seen | set(items)
        return best_candidates(self.item_ids, columns, scores, skip, self.config.n, self.name)

    def save(self, folder: Path) -> dict[str, Any]:
        if self.neighbours is None or self.item_ids is None:
            raise NotTrainedError(self)
        return save_neighbours(folder, self.item_ids, self.neighbours)

    def load(self, folder: Path) -> None:
        self.item_ids, self.neighbours = load_neighbours(folder)
        self._index = {str(item_id): i for i, item_id in enumerate(self.item_ids)}
