"""Creating the faiss index behind :class:`~ecorec.recall.ann.AnnIndex` from its config.

Kept apart from the index's id bookkeeping: which faiss structure, how many inverted lists,
how many PQ bits, with how many OpenMP threads, and which large-norm items are scored exactly
(and so left out of the faiss index).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

if TYPE_CHECKING:
    from ecorec.recall.ann import AnnConfig

#: Below this many items IVF-PQ falls back to IVF-Flat (codes would be too coarse to train).
PQ_MIN_ITEMS = 256


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
    if norms[head].min() < 2.0 * np.median(norms):
        return np.empty(0, dtype=np.int64)
    return np.sort(head).astype(np.int64)
