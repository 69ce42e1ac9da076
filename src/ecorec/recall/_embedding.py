"""What the embedding channels (ALS, LightGCN) share: which items to index, how to serve.

Both learn item vectors, index the servable ones in an :class:`~ecorec.recall.ann.AnnIndex`,
and at request time turn one user vector into candidates; keeping that here keeps each
channel's module about its model.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from ecorec.core.contracts import Candidate
from ecorec.core.profile import Profile
from ecorec.recall.ann import AnnIndex


class OneBlasThread:
    """Context factory: BLAS/LAPACK on one thread for the few small products of a request.

    A request's math is tiny (a 64x64 solve, one query against a few thousand vectors);
    threaded OpenBLAS only adds wake-ups, and on the busy 2-core machines it measured 10x
    slower (ALS on MovieLens-100K: 2.2 ms vs 0.25 ms per request). Serving is parallel across
    requests instead. The controller is created on first use (~3 ms) and kept; a limit costs
    ~15 us. A server can also set ``threadpool_limits(1, "blas")`` once at start-up.
    """

    def __init__(self) -> None:
        self._controller: ThreadpoolController | None = None

    def __call__(self) -> AbstractContextManager[Any]:
        if self._controller is None:
            self._controller = ThreadpoolController()
        limit: AbstractContextManager[Any] = self._controller.limit(limits=1, user_api="blas")
        return limit


def index_items(
    index: AnnIndex, item_ids: np.ndarray, vectors: np.ndarray, deleted: set[str]
) -> None:
    """Build ``index`` over the items not in ``deleted``.

    Raises:
        ValueError: when every item is deleted (nothing could ever be served).

    """
    keep = ~np.isin(item_ids, np.asarray(sorted(deleted), dtype=str)) if deleted else None
    if keep is not None and not keep.any():
        raise ValueError("every trained item is deleted in the catalog: nothing to index")
    if keep is None:
        index.build(item_ids, vectors)
    else:
        index.build(item_ids[keep], vectors[keep])


def serve(
    index: AnnIndex,
    query: np.ndarray | None,
    profile: Profile,
    n: int,
    exclude_seen: bool,
    channel: str,
) -> list[Candidate]:
    """The ``n`` items nearest to ``query``, minus negatives (and seen items when asked)."""
    if query is None:
        return []
    skip = profile.negatives | profile.seen if exclude_seen else profile.negatives
    (found,) = index.search(query, n, exclude=skip)
    return [Candidate(item_id, score, channel) for item_id, score in found]


def history(profile: Profile, limit: int) -> list[str]:
    """The items a user vector is folded in from, sorted: all consumed ones up to ``limit``.

    Past ``limit`` only the newest ``limit`` of ``profile.recent`` count, which keeps a
    request O(limit) for users with a long history.
    """
    consumed = profile.seen.union(profile.recent_item_ids)
    if len(consumed) <= limit:
        return sorted(consumed)
    return sorted(recent_first(profile, limit))


def recent_first(profile: Profile, limit: int) -> list[str]:
    """Up to ``limit`` distinct items of ``profile.recent``, newest first."""
    out: dict[str, None] = {}
    for item_id, _ in reversed(profile.recent):
        if len(out) >= limit:
            break
        out.setdefault(item_id, None)
    return list(out)
