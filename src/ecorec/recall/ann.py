"""The approximate-nearest-neighbour index every embedding channel serves through (faiss).

ALS, the two-tower model and LightGCN all end the same way: item vectors, a user vector at
request time, the items with the largest inner product. This module owns that step so the
channels stay about their models: HNSW or IVF (Flat or PQ) chosen by config, exact search over
the same live vectors for measuring recall, deletion by mask (a deleted item is never served
again from the moment :meth:`AnnIndex.delete` returns) and compaction by :meth:`AnnIndex.rebuild`.
Inner product is not a metric: items with large norms win many queries from far away, so
when norms are skewed those are scored exactly instead (:attr:`AnnConfig.exact_head`) and kept
out of the HNSW graph or IVF lists. Left in a graph built by inner product they are every
item's best neighbour, fill the neighbour lists as hubs and leave the rest hard to navigate.

The usual MIPS-to-nearest-neighbour reduction (Bachrach et al. 2014: append
``sqrt(M^2 - |x|^2)`` so every item has norm ``M``, search by L2) was measured instead and
rejected: recall@100 of HNSW rose to 1.00 on ALS vectors of the 10k-item synthetic platform but
fell from 0.99 to 0.72 on LightGCN's, and to 0.37-0.78 on synthetic vectors with skewed norms,
where the inner-product graph without its head keeps 0.98-1.00 (padded to one norm, the items
lie far from every query and graph search loses its way; Morozov & Babenko 2018 found the same).

Threads: faiss parallelises over queries only when a call has several, so one query at a time
pays no OpenMP start-up (measured on the 2-core machines: HNSW single-query p50 0.40 ms with 1
or 2 threads alike, 100k x 64-d), and batches (evaluation, recall measurement) keep faiss's
default of every core. Building is different: k-means and graph insertion run many short
parallel regions, and on these busy shared 2-core machines two threads measured no faster for
HNSW and 4x (IVF) to 10x (IVF-PQ) slower than one, threads waiting on each other at every
barrier. So :attr:`AnnConfig.build_threads` defaults to 1. OpenMP's thread count is per calling
thread, so setting it around a build does not touch other threads' searches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ecorec.core.component import NotTrainedError
from ecorec.recall._faiss import (
    PQ_MIN_ITEMS,
    AnnConfig,
    as_queries,
    make_index,
    merge_head,
    norm_head,
    omp_threads,
    set_search_params,
)

#: PQ hits are re-scored exactly, so the index is asked for this many times more.
_PQ_REFINE = 4
#: Version of what :meth:`AnnIndex.save` writes (2: the exact head is not in the faiss index).
_FORMAT = 2
#: Largest query x item block scored at once by :meth:`AnnIndex.exact` (floats, ~128 MB).
_EXACT_BLOCK = 32_000_000


class AnnIndex:
    """Item ids and vectors searchable by inner product, with deletion by mask.

    Example:
        >>> import numpy as np
        >>> ann = AnnIndex({"kind": "flat"})
        >>> ann.build(np.array(["a", "b", "c"]), np.eye(3, dtype=np.float32))
        >>> ann.search(np.array([[0.0, 1.0, 0.5]]), k=2)
        [[('b', 1.0), ('c', 0.5)]]
        >>> ann.delete(["b"])
        1
        >>> ann.search(np.array([[0.0, 1.0, 0.5]]), k=2)
        [[('c', 0.5), ('a', 0.0)]]

    """

    def __init__(self, config: AnnConfig | dict[str, Any] | None = None) -> None:
        if config is None or isinstance(config, dict):
            config = AnnConfig.model_validate(config or {})
        self.config = config
        self._index: Any = None
        self._ids = np.empty(0, dtype=str)
        self._vectors = np.empty((0, 0), dtype=np.float32)
        self._alive = np.empty(0, dtype=bool)
        self._sorted_ids = np.empty(0, dtype=str)
        self._sorted_pos = np.empty(0, dtype=np.int64)
        self._live = 0
        self._head = np.empty(0, dtype=np.int64)
        self._head_index: Any = None
        self._graph_pos = np.empty(0, dtype=np.int64)

    # -- building ---------------------------------------------------------------------------

    def build(self, item_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Index ``vectors[i]`` under ``item_ids[i]`` (replacing anything indexed before).

        Raises:
            ValueError: no items, a length mismatch, duplicate ids, or non-finite vectors.

        """
        ids = np.asarray(item_ids, dtype=str)
        if len(ids):  # as wide as the longest id: "<U22" from np.char would cost 3x the memory
            ids = ids.astype(f"<U{max(1, int(np.char.str_len(ids).max()))}")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or ids.ndim != 1 or len(ids) != len(vecs):
            raise ValueError(
                f"ann: need one vector per item id, got {ids.shape} ids and {vecs.shape} vectors"
            )
        if len(ids) == 0:
            raise ValueError("ann: no items to index (empty catalog or no trained item)")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ann: item ids must be unique")
        if not np.isfinite(vecs).all():
            raise ValueError("ann: vectors contain NaN or infinity (did training diverge?)")
        self._set(ids, vecs, np.ones(len(ids), dtype=bool), self._make(vecs))

    def delete(self, item_ids: Iterable[str]) -> int:
        """Stop serving ``item_ids`` now; returns how many live items that removed.

        The vectors stay in the faiss index (HNSW cannot remove) until :meth:`rebuild`;
        searches filter them out.
        """
        pos = self._positions(item_ids)
        pos = pos[self._alive[pos]]
        self._alive[pos] = False
        self._live -= len(pos)
        return len(pos)

    def rebuild(self) -> None:
        """Re-create the index from the live items only (compaction after deletes)."""
        self._require()
        keep = self._alive
        ids, vecs = self._ids[keep], self._vectors[keep]
        self._set(ids, vecs, np.ones(len(ids), dtype=bool), self._make(vecs))

    # -- searching --------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, exclude: Collection[str] = ()
    ) -> list[list[tuple[str, float]]]:
        """The ``k`` items with the largest inner product per query, best first.

        Deleted and ``exclude``-d ids are never returned: the index is asked for more than
        ``k`` (scaled by the deleted share and the number excluded) and the result filtered;
        a query still short is asked again with twice as many, and answered exactly once
        that would cover most of the index.

        Args:
            queries: ``(n, d)`` or a single ``(d,)`` vector.
            k: results per query (fewer when fewer live items are left).
            exclude: ids the caller does not want (already seen, negatives).

        """
        self._require()
        q = as_queries(queries, self.dim)
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(q))]
        total, live = len(self._ids), self._live
        banned = self._positions(exclude) if exclude else np.empty(0, dtype=np.int64)
        banned = banned[self._alive[banned]]
        want = min(k, live - len(banned))
        if want <= 0 or not len(q):
            return out
        fetch = math.ceil((want + len(banned)) * total / live) + 8
        if self._is_pq():
            fetch *= _PQ_REFINE
        head_pos, head_scores = self._head_top(q, want, banned)
        todo = np.arange(len(q))
        while len(todo):
            if self.config.kind == "flat" or fetch * 2 > total:
                self._fill_exact(q, todo, want, banned, out)
                break
            scores, labels = self._index.search(q[todo], fetch)
            short = []
            for row, query in enumerate(todo):
                hit = labels[row] >= 0
                keep, keep_scores = self._graph_pos[labels[row][hit]], scores[row][hit]
                ok = self._alive[keep]
                if len(banned):
                    ok &= ~np.isin(keep, banned)
                found, found_scores = keep[ok], keep_scores[ok]
                if self._is_pq():
                    found, found_scores = self._rescore(q[query], found)
                if len(self._head):
                    found, found_scores = merge_head(
                        found, found_scores, head_pos[query], head_scores[query]
                    )
                if len(found) < want:
                    short.append(query)
                    continue
                out[query] = self._pairs(found[:want], found_scores[:want])
            todo, fetch = np.asarray(short, dtype=np.int64), fetch * 2
        return out

    def exact(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Brute-force top ``k`` over the same live vectors: what :meth:`search` is measured by."""
        self._require()
        q = as_queries(queries, self.dim)
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(q))]
        want = min(k, len(self))
        if want > 0:
            self._fill_exact(q, np.arange(len(q)), want, np.empty(0, dtype=np.int64), out)
        return out

    def vector(self, item_id: str) -> np.ndarray | None:
        """A copy of the live item's vector, or None when unknown or deleted."""
        pos = self._positions([item_id])
        if not len(pos) or not self._alive[pos[0]]:
            return None
        vec: np.ndarray = self._vectors[pos[0]].copy()
        return vec

    def vectors(self, item_ids: Sequence[str]) -> np.ndarray:
        """Copies of the live items' vectors, one row per known id in order, repeats kept.

        One binary search for the whole batch: what :meth:`vector` per id gives, stacked.
        """
        if not item_ids or not len(self._sorted_ids):
            return np.empty((0, self.dim), dtype=self._vectors.dtype)
        wanted = np.asarray(item_ids, dtype=str)
        at = np.minimum(np.searchsorted(self._sorted_ids, wanted), len(self._sorted_ids) - 1)
        pos = self._sorted_pos[at[self._sorted_ids[at] == wanted]]
        found: np.ndarray = self._vectors[pos[self._alive[pos]]]
        return found

    def __len__(self) -> int:
        return self._live

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.vector(item_id) is not None

    @property
    def dim(self) -> int:
        """Vector dimension (0 before :meth:`build`)."""
        return int(self._vectors.shape[1])

    @property
    def item_ids(self) -> np.ndarray:
        """Ids of the live items, in index order."""
        ids: np.ndarray = self._ids[self._alive]
        return ids

    # -- persistence ------------------------------------------------------------------------

    def save(self, folder: Path, prefix: str = "ann") -> None:
        """Write the faiss index, ids, vectors and deletion mask into ``folder`` (no pickle)."""
        self._require()
        folder = Path(folder)
        faiss.write_index(self._index, str(folder / f"{prefix}.faiss"))
        np.save(folder / f"{prefix}_ids.npy", self._ids, allow_pickle=False)
        np.save(folder / f"{prefix}_vectors.npy", self._vectors, allow_pickle=False)
        np.save(folder / f"{prefix}_alive.npy", self._alive, allow_pickle=False)
        meta = {
            "format": _FORMAT,
            "config": self.config.model_dump(),
            "items": len(self._ids),
            "live": len(self),
        }
        (folder / f"{prefix}.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path, prefix: str = "ann") -> AnnIndex:
        """Read what :meth:`save` wrote."""
        folder = Path(folder)
        meta = json.loads((folder / f"{prefix}.json").read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(
                f"ann: {folder / prefix} was saved in format {meta.get('format', 1)}, this "
                f"version reads {_FORMAT} (its head is no longer in the index): train again"
            )
        # saved before ``head_skew`` existed: the head was chosen at twice the median norm
        ann = cls(AnnConfig.model_validate({"head_skew": 2.0, **meta["config"]}))
        index = faiss.read_index(str(folder / f"{prefix}.faiss"))
        set_search_params(index, ann.config)
        ann._set(
            np.load(folder / f"{prefix}_ids.npy", allow_pickle=False),
            np.load(folder / f"{prefix}_vectors.npy", allow_pickle=False),
            np.load(folder / f"{prefix}_alive.npy", allow_pickle=False),
            index,
        )
        return ann

    # -- internals --------------------------------------------------------------------------

    def _make(self, vecs: np.ndarray) -> Any:
        """A faiss index over the vectors outside the head (a placeholder when none are)."""
        graph = np.ones(len(vecs), dtype=bool)
        graph[self._norm_head(vecs)] = False
        if not graph.any():
            return faiss.IndexFlatIP(vecs.shape[1])
        with omp_threads(self.config.build_threads):
            return make_index(self.config, np.ascontiguousarray(vecs[graph]))

    def _norm_head(self, vecs: np.ndarray) -> np.ndarray:
        if self.config.kind == "flat":  # exact anyway
            return np.empty(0, dtype=np.int64)
        return norm_head(vecs, self.config)

    def _set(self, ids: np.ndarray, vecs: np.ndarray, alive: np.ndarray, index: Any) -> None:
        self._ids, self._vectors, self._alive, self._index = ids, vecs, alive, index
        # a sorted copy answers id -> position by binary search: ~40 bytes per item where a
        # dict of a million Python strings would cost ~100 MB and a second to build
        order = np.argsort(ids, kind="stable")
        self._sorted_ids, self._sorted_pos = ids[order], order.astype(np.int64)
        self._live = int(alive.sum())
        # the head is a pure function of the vectors, so load finds the same split as build
        self._head = self._norm_head(vecs)
        graph = np.ones(len(vecs), dtype=bool)
        graph[self._head] = False
        self._graph_pos = np.flatnonzero(graph).astype(np.int64)  # faiss label -> position
        if index.ntotal != len(self._graph_pos):
            raise ValueError(
                f"ann: the faiss index holds {index.ntotal} vectors, expected "
                f"{len(self._graph_pos)} (the items outside the exact head)"
            )
        # a flat faiss index scores one query without BLAS threads (numpy's product took
        # 7 ms instead of 0.1 ms on a busy 2-core machine) and keeps the top k by heap
        self._head_index = faiss.IndexFlatIP(vecs.shape[1])
        self._head_index.add(np.ascontiguousarray(vecs[self._head]))

    def _require(self) -> None:
        if self._index is None:
            raise NotTrainedError(self)

    def _positions(self, item_ids: Iterable[str]) -> np.ndarray:
        """Index positions of the known ids among ``item_ids`` (unknown ids dropped)."""
        wanted = np.asarray(list(item_ids), dtype=str)
        if not len(wanted) or not len(self._sorted_ids):
            return np.empty(0, dtype=np.int64)
        at = np.searchsorted(self._sorted_ids, wanted)
        at = np.minimum(at, len(self._sorted_ids) - 1)
        hit = self._sorted_ids[at] == wanted
        return np.unique(self._sorted_pos[at[hit]])

    def _fill_exact(
        self,
        q: np.ndarray,
        rows: np.ndarray,
        want: int,
        banned: np.ndarray,
        out: list[list[tuple[str, float]]],
    ) -> None:
        """Answer ``q[rows]`` by brute force over the live, non-banned vectors."""
        # score every row and mask the dead and banned ones: no copy of the vectors
        masked = (
            banned
            if self._live == len(self._ids)
            else np.union1d(np.flatnonzero(~self._alive), banned)
        )
        step = max(1, _EXACT_BLOCK // max(1, len(self._ids)))
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            scores = q[chunk] @ self._vectors.T
            scores[:, masked] = -np.inf
            top = np.argpartition(-scores, want - 1, axis=1)[:, :want]
            top_scores = np.take_along_axis(scores, top, axis=1)
            # score descending, then index order on ties: deterministic answers
            order = np.lexsort((top, -top_scores), axis=1)
            top = np.take_along_axis(top, order, axis=1)
            top_scores = np.take_along_axis(top_scores, order, axis=1)
            for i, query in enumerate(chunk):
                out[query] = self._pairs(top[i], top_scores[i])

    def _head_top(
        self, q: np.ndarray, want: int, banned: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query's best ``want`` head items, exactly (-inf where deleted or banned)."""
        if not len(self._head):
            return np.empty((len(q), 0), dtype=np.int64), np.empty((len(q), 0))
        masked = ~self._alive[self._head] | np.isin(self._head, banned)
        size = min(want + int(masked.sum()), len(self._head))
        scores, top = self._head_index.search(q, size)
        scores[(top < 0) | masked[np.maximum(top, 0)]] = -np.inf
        return self._head[np.maximum(top, 0)], scores

    def _is_pq(self) -> bool:
        return (
            self.config.kind == "ivf"
            and self.config.ivf_pq > 0
            and len(self._graph_pos) >= PQ_MIN_ITEMS
        )

    def _rescore(self, query: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products for PQ hits (PQ distances are approximate), re-sorted."""
        scores = self._vectors[found] @ query
        order = np.argsort(-scores, kind="stable")
        return found[order], scores[order]

    def _pairs(self, positions: np.ndarray, scores: np.ndarray) -> list[tuple[str, float]]:
        return list(
            zip(self._ids[positions].tolist(), np.asarray(scores, float).tolist(), strict=True)
        )


__all__ = ["AnnConfig", "AnnIndex"]
