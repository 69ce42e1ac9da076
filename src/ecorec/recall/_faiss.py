"""The faiss side of :class:`~ecorec.recall.ann.AnnIndex`: its config and the index made from it.

Kept apart from the index's id bookkeeping: which faiss structure, how many inverted lists,
how many PQ bits, with how many OpenMP threads, which large-norm items are scored exactly
(and so left out of the faiss index), and how their hits join the index's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import faiss
import numpy as np
from pydantic import Field

from ecorec.core.component import ComponentConfig

#: Below this many items IVF-PQ falls back to IVF-Flat (codes would be too coarse to train).
PQ_MIN_ITEMS = 256


class AnnConfig(ComponentConfig):
    """Which faiss index serves the vectors, and its speed/recall knobs.

    Attributes:
        kind: ``hnsw`` (graph, best latency/recall, no training), ``ivf`` (inverted lists,
            fast to build, memory-lean with ``ivf_pq``) or ``flat`` (exact: small catalogs
            and measuring).
        hnsw_m: graph degree; memory grows by ``2 * hnsw_m * 4`` bytes per item.
        ef_construction: candidate list while building the graph (build time vs quality).
        ef_search: candidate list while searching (latency vs recall).
        ivf_nlist: inverted lists; 0 = about ``4 * sqrt(n)``, capped so every list gets
            about 39 training points (faiss's own floor).
        ivf_nprobe: lists visited per query.
        ivf_pq: 0 = IVF-Flat; > 0 = IVF-PQ with that many sub-quantizers (must divide the
            dimension). Results are re-scored with the exact vectors.
        exact_head: share of the items with the largest norms that every HNSW or IVF query
            scores exactly, kept out of the graph or lists. Factorisation vectors (ALS above
            all) put most of a user's best items among the few popular, large-norm items,
            which inverted lists spread thin and which, as graph nodes, crowd every
            neighbour list: on ALS vectors of the 10k-item synthetic platform recall@100 of
            HNSW went from 0.87 to 1.00 with a 2% head (0.93 while the head also stayed in
            the graph), of IVF from 0.37 to 0.90, for one small product per query.
        head_skew: the head is used only when its smallest norm is at least this many times
            the median norm (unit vectors, two-tower's and content's, have no head). LightGCN's
            vectors sit near 2x (median 1.75, 98th percentile 3.48 on the 10k-item platform):
            with a 2% head their HNSW recall@100 went from 0.91 to 1.00.
        build_threads: OpenMP threads while building (0 = faiss's default, every core).

    """

    kind: Literal["hnsw", "ivf", "flat"] = "hnsw"
    hnsw_m: int = Field(default=32, ge=2)
    ef_construction: int = Field(default=200, gt=0)
    ef_search: int = Field(default=128, gt=0)
    ivf_nlist: int = Field(default=0, ge=0)
    ivf_nprobe: int = Field(default=16, gt=0)
    ivf_pq: int = Field(default=0, ge=0)
    exact_head: float = Field(default=0.02, ge=0, le=1)
    head_skew: float = Field(default=1.5, ge=1)
    build_threads: int = Field(default=1, ge=0)


@contextmanager
def omp_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` OpenMP threads (0: unchanged), then restore."""
    if threads <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def ivf_lists(n: int, requested: int = 0) -> int:
    """Inverted lists for ``n`` vectors: ``requested``, else about ``4 * sqrt(n)``.

    Capped at ``n // 39`` (faiss wants ~39 training points per centroid) and at least 1.
    """
    nlist = requested or round(4 * math.sqrt(n))
    return max(1, min(nlist, n // 39 if not requested else n))


def make_index(config: AnnConfig, vecs: np.ndarray) -> Any:
    n, d = vecs.shape
    index: Any
    if config.kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif config.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
    else:
        nlist = ivf_lists(n, config.ivf_nlist)
        quantizer = faiss.IndexFlatIP(d)
        if config.ivf_pq and d % config.ivf_pq:
            raise ValueError(f"ann: ivf_pq={config.ivf_pq} must divide the dimension {d}")
        if config.ivf_pq and n >= PQ_MIN_ITEMS:
            # 8-bit codes want ~39 training points per code word: smaller catalogs get fewer bits
            bits = min(8, int(math.log2(n // 39)))
            index = faiss.IndexIVFPQ(
                quantizer, d, nlist, config.ivf_pq, bits, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        # k-means on at most 64 points per list: past that quality barely moves, time does
        rng = np.random.default_rng(0)
        sample = vecs if n <= 64 * nlist else vecs[rng.choice(n, 64 * nlist, replace=False)]
        index.train(sample)
    index.add(vecs)
    set_search_params(index, config)
    return index


def set_search_params(index: Any, config: AnnConfig) -> None:
    # with every item in the exact head the index is an empty flat placeholder, whatever the kind
    if config.kind == "hnsw" and hasattr(index, "hnsw"):
        index.hnsw.efSearch = config.ef_search
    elif config.kind == "ivf" and (ivf := faiss.try_extract_index_ivf(index)) is not None:
        ivf.nprobe = min(config.ivf_nprobe, ivf.nlist)


def norm_head(vecs: np.ndarray, config: AnnConfig) -> np.ndarray:
    """Positions of the ``exact_head`` share of largest-norm vectors, if norms are skewed."""
    size = min(len(vecs), math.ceil(config.exact_head * len(vecs)))
    if size == 0:
        return np.empty(0, dtype=np.int64)
    norms = np.sqrt(np.einsum("ij,ij->i", vecs, vecs))
    head = np.argpartition(-norms, size - 1)[:size]
    if norms[head].min() < config.head_skew * np.median(norms):
        return np.empty(0, dtype=np.int64)
    return np.sort(head).astype(np.int64)


def merge_head(
    found: np.ndarray, scores: np.ndarray, head: np.ndarray, head_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Union of index hits and head hits (both exact scores), best first, each item once."""
    usable = np.isfinite(head_scores)
    positions = np.concatenate([found, head[usable]])
    values = np.concatenate([scores, head_scores[usable]])
    order = np.lexsort((positions, -values))
    positions, values = positions[order], values[order]
    _, first = np.unique(positions, return_index=True)
    first.sort()
    return positions[first], values[first]


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """``queries`` as the contiguous float32 rows faiss takes; one vector becomes one row."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q.reshape(1, -1)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"ann: queries must have dimension {dim}, got shape {q.shape}")
    return q
