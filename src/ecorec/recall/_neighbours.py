"""Shared machinery of the neighbour-based channels (item-CF, user-CF, session, EASE).

Three things every co-occurrence channel needs and should not each re-invent:

- :func:`topk_product` keeps the ``k`` largest entries of each row of a sparse product
  ``left @ right`` computed in row blocks, so a 100k+ x 100k+ similarity is never held whole;
- :func:`topk_rows` does the same for a sparse matrix that already exists (session counts);
- :func:`gather` and :func:`best_candidates` turn neighbour lists into a request's candidates
  in O(candidates): a vectorised gather of a few CSR rows, a bincount, a partial sort.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ecorec.core.contracts import Candidate
from ecorec.recall.lists import unskipped

#: Default cap on the non-zeros of one block of a product (about 300 MB of temporaries).
BLOCK_NNZ = 10_000_000


def column_mask(item_ids: np.ndarray, excluded: Collection[str]) -> np.ndarray | None:
    """Boolean mask of the columns that may be candidates, or None when all may."""
    if not excluded:
        return None
    mask: np.ndarray = ~np.isin(item_ids, np.asarray(list(excluded), dtype=str))
    return None if mask.all() else mask


def _select_topk(
    block: sp.csr_matrix, k: int, first_row: int, drop_diagonal: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (global), columns and values of the ``k`` largest positive entries of each row.

    Linear time: rows with at most ``k`` entries are kept whole (vectorised); longer rows are
    cut at their k-th largest value with ``np.partition``, ties going to the lower column so
    the same input always gives the same lists.
    """
    block.sum_duplicates()
    block.sort_indices()  # ties break on the column, so it must be in order
    counts = np.diff(block.indptr)
    rows = np.repeat(np.arange(block.shape[0], dtype=np.int64), counts)
    cols = block.indices.astype(np.int64)
    vals = block.data
    keep = vals > 0
    if drop_diagonal:
        keep &= cols != rows + first_row
    if not keep.all():
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        counts = np.bincount(rows, minlength=block.shape[0])
    starts = np.concatenate(([0], np.cumsum(counts)))
    keep = np.ones(len(vals), dtype=bool)
    for row in np.flatnonzero(counts > k):
        start, stop = starts[row], starts[row + 1]
        segment = vals[start:stop]
        threshold = np.partition(segment, len(segment) - k)[len(segment) - k]
        chosen = segment > threshold
        ties = np.flatnonzero(segment == threshold)[: k - int(chosen.sum())]
        chosen[ties] = True
        keep[start:stop] = chosen
    return rows[keep] + first_row, cols[keep], vals[keep]


def _assemble(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], shape: tuple[int, int]
) -> sp.csr_matrix:
    """One CSR from per-block (row, col, value) triples already sorted by row then column."""
    if parts:
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
    else:
        rows = cols = np.empty(0, dtype=np.int64)
        vals = np.empty(0, dtype=np.float32)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix(
        (vals.astype(np.float32), cols.astype(np.int32), indptr), shape=shape, copy=False
    )


def topk_product(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    k: int,
    *,
    row_scale: np.ndarray | None = None,
    col_scale: np.ndarray | None = None,
    col_mask: np.ndarray | None = None,
    drop_diagonal: bool = True,
    block_nnz: int = BLOCK_NNZ,
) -> sp.csr_matrix:
    """Top ``k`` per row of ``diag(row_scale) @ left @ right @ diag(col_scale)``, as CSR.

    Rows are processed in blocks sized from an upper bound of each row's non-zeros in the
    product (``sum`` of the ``right`` row lengths it touches), so peak memory stays near
    ``block_nnz`` entries whatever the catalog size. Only positive entries are kept.

    Args:
        left: the left factor (``X.T`` for item-CF, ``X`` for user-CF).
        right: the right factor (``X`` for item-CF, ``X.T`` for user-CF).
        k: neighbours kept per row.
        row_scale: per-row factors (popularity normalisation).
        col_scale: per-column factors.
        col_mask: columns allowed as neighbours (False: dropped, e.g. deleted items).
        drop_diagonal: drop entry ``(i, i)`` (an item is not its own neighbour).
        block_nnz: cap on the non-zeros of one block of the product.

    Returns:
        ``left.shape[0] x right.shape[1]`` CSR, float32, at most ``k`` entries per row.

    """
    left = sp.csr_matrix(left)
    right = sp.csr_matrix(right)
    n_rows, n_cols = left.shape[0], right.shape[1]
    if col_mask is not None:
        col_scale = np.ones(n_cols) if col_scale is None else np.asarray(col_scale, dtype=float)
        col_scale = np.where(col_mask, col_scale, 0.0)
    right_nnz = np.diff(right.indptr).astype(np.float64)
    pattern = left.copy()
    pattern.data = np.ones_like(pattern.data, dtype=np.float64)
    bound = np.minimum(pattern @ right_nnz, n_cols)
    ends = np.cumsum(bound)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start = 0
    while start < n_rows:
        base = ends[start - 1] if start else 0.0
        stop = int(np.searchsorted(ends, base + block_nnz, side="right"))
        stop = min(max(stop, start + 1), n_rows)
        block = sp.csr_matrix(left[start:stop] @ right)
        if row_scale is not None:
            block = sp.csr_matrix(sp.diags(row_scale[start:stop]) @ block)
        if col_scale is not None:
            block = sp.csr_matrix(block @ sp.diags(col_scale))
        parts.append(_select_topk(block, k, start, drop_diagonal))
        start = stop
    return _assemble(parts, (n_rows, n_cols))


def topk_rows(matrix: sp.spmatrix, k: int, drop_diagonal: bool = True) -> sp.csr_matrix:
    """Top ``k`` positive entries of each row of an existing sparse matrix."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    return _assemble([_select_topk(csr, k, 0, drop_diagonal)], csr.shape)


def gather(
    neighbours: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``sum_r weights[r] * neighbours[rows[r]]`` as (column indices, scores), vectorised.

    The cost is the total length of the gathered rows (history x neighbours), never the
    number of columns.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = neighbours.indptr[rows]
    lengths = neighbours.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    positions = offsets + np.arange(total)
    cols = neighbours.indices[positions]
    vals = neighbours.data[positions].astype(np.float64) * np.repeat(weights, lengths)
    unique, inverse = np.unique(cols, return_inverse=True)
    return unique.astype(np.int64), np.bincount(inverse, weights=vals)


def best_candidates(
    item_ids: np.ndarray,
    columns: np.ndarray,
    scores: np.ndarray,
    skip: Collection[str],
    n: int,
    channel: str,
) -> list[Candidate]:
    """The ``n`` best (column, score) pairs whose item is not in ``skip``, score descending.

    Only the ``n + len(skip)`` best pairs can survive the skip, so a partial sort of those
    suffices; ties break on the column index so outputs are deterministic.
    """
    finite = np.isfinite(scores)
    if not finite.all():
        columns, scores = columns[finite], scores[finite]
    limit = min(len(scores), n + len(skip))
    if limit == 0:
        return []
    if limit < len(scores):
        top = np.argpartition(-scores, limit - 1)[:limit]
        columns, scores = columns[top], scores[top]
    order = np.lexsort((columns, -scores))
    ids, at = unskipped(item_ids, columns[order], skip, n)
    return list(map(Candidate, ids, scores[order[at]].tolist(), repeat(channel)))


def recency_weights(ts: np.ndarray, reference: float, half_life_days: float) -> np.ndarray:
    """``2 ** (-age / half_life)`` with ages clipped at 0; all ones when ``half_life_days`` is 0."""
    ts = np.asarray(ts, dtype=np.float64)
    if half_life_days <= 0:
        return np.ones(len(ts))
    age = np.maximum(reference - ts, 0.0)
    weights: np.ndarray = np.exp2(-age / (half_life_days * 86_400.0))
    return weights


def save_neighbours(
    folder: Path, item_ids: np.ndarray, neighbours: sp.csr_matrix
) -> dict[str, Any]:
    """Write a neighbour-list channel's state (ids + CSR lists); return its manifest metrics."""
    np.save(folder / "item_ids.npy", item_ids, allow_pickle=False)
    sp.save_npz(folder / "neighbours.npz", neighbours)
    metrics = {"items": int(len(item_ids)), "pairs": int(neighbours.nnz)}
    (folder / "meta.json").write_text(json.dumps(metrics))
    return metrics


def load_neighbours(folder: Path) -> tuple[np.ndarray, sp.csr_matrix]:
    """Read what :func:`save_neighbours` wrote."""
    item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
    return item_ids, sp.load_npz(folder / "neighbours.npz").tocsr()
