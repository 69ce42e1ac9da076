"""Top-K accuracy metrics, exactly as RecBole defines them, over a batch of users at once.

Every function takes the same two arrays RecBole's ``TopkMetric`` works from:

* ``hits`` — a boolean ``(users, L)`` matrix, ``hits[u, j]`` true when the item ranked ``j``
  (0-based) for user ``u`` is relevant; a list shorter than ``L`` is padded with ``False``.
* ``n_relevant`` — ``(users,)`` counts of each user's relevant items ``|R(u)|`` (> 0: a user
  without relevant items is not evaluated, as in RecBole).

and returns one value per user (the caller averages, so per-user values stay available for
confidence intervals and paired tests). Definitions (``recbole/evaluator/metrics.py``):

* Recall@K = ``|top-K ∩ R(u)| / |R(u)|``
* NDCG@K = ``DCG@K / IDCG@K`` with binary gains ``1 / log2(rank + 1)`` and the ideal DCG over
  ``min(|R(u)|, K)`` relevant items
* MRR@K = ``1 / rank`` of the first relevant item within the top K, else 0
* Hit@K = 1 if any of the top K is relevant, else 0

Example:
    >>> import numpy as np
    >>> hits = np.array([[False, True, False]])
    >>> float(recall_at_k(hits, np.array([2]), 3)[0]), float(mrr_at_k(hits, 3)[0])
    (0.5, 0.5)

"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: The metric families :func:`topk_metrics` knows, by the names used in JSON (``recall@10``).
TOPK_METRICS = ("recall", "ndcg", "mrr", "hit")


def _top(hits: np.ndarray, k: int) -> np.ndarray:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    hits = np.asarray(hits, dtype=bool)
    if hits.ndim != 2:
        raise ValueError(f"hits must be a (users, ranks) matrix, got shape {hits.shape}")
    return hits[:, :k]


def _relevant(n_relevant: np.ndarray, users: int) -> np.ndarray:
    counts = np.asarray(n_relevant, dtype=np.float64).reshape(-1)
    if counts.shape[0] != users:
        raise ValueError(f"n_relevant has {counts.shape[0]} users, hits has {users}")
    if (counts <= 0).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    return counts


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Share of each user's relevant items found in the top ``k``."""
    top = _top(hits, k)
    found = top.sum(axis=1, dtype=np.float64)
    result: np.ndarray = found / _relevant(n_relevant, top.shape[0])
    return result


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary-relevance NDCG@k; the ideal list holds ``min(|R(u)|, k)`` relevant items.

    Ranks past the end of a short list count as misses, and the ideal DCG is not shortened
    with the list: a channel that returns fewer than ``k`` items is not rewarded for it.
    """
    top = _top(hits, k)
    counts = _relevant(n_relevant, top.shape[0])
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (top * discounts[: top.shape[1]]).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal[np.minimum(counts, k).astype(np.int64)]
    result: np.ndarray = dcg / idcg
    return result


def mrr_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal rank of each user's first relevant item within the top ``k`` (0 if none)."""
    top = _top(hits, k)
    if top.shape[1] == 0:
        return np.zeros(top.shape[0])
    first = top.argmax(axis=1)
    found = top[np.arange(top.shape[0]), first]
    result: np.ndarray = np.where(found, 1.0 / (first + 1.0), 0.0)
    return result


def hit_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """1.0 where any of the top ``k`` is relevant, else 0.0."""
    result: np.ndarray = np.asarray(_top(hits, k).any(axis=1), dtype=np.float64)
    return result


def topk_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, wanted: Iterable[tuple[str, int]]
) -> dict[str, float]:
    """Mean over users of each ``(family, k)`` in ``wanted``, keyed ``"family@k"``.

    Example:
        >>> import numpy as np
        >>> topk_metrics(np.array([[True], [False]]), np.array([1, 1]), [("hit", 1)])
        {'hit@1': 0.5}

    """
    out: dict[str, float] = {}
    for family, k in wanted:
        if family == "recall":
            values = recall_at_k(hits, n_relevant, k)
        elif family == "ndcg":
            values = ndcg_at_k(hits, n_relevant, k)
        elif family == "mrr":
            values = mrr_at_k(hits, k)
        elif family == "hit":
            values = hit_at_k(hits, k)
        else:
            raise ValueError(f"unknown metric {family!r}; known: {', '.join(TOPK_METRICS)}")
        out[f"{family}@{k}"] = float(values.mean()) if len(values) else 0.0
    return out


def hit_matrix(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> np.ndarray:
    """The ``hits`` matrix of ranked item indices against each user's relevant items.

    Args:
        recommended: ``(users, L)`` item indices, best first, ``-1`` where a list is short.
        relevant_rows: row (user) of each relevant pair.
        relevant_items: item index of each relevant pair.

    Returns:
        ``(users, L)`` booleans; a padded slot is never a hit.

    """
    recommended = np.asarray(recommended, dtype=np.int64)
    width = int(max(recommended.max(initial=-1), np.max(relevant_items, initial=-1))) + 1
    rows = np.arange(recommended.shape[0], dtype=np.int64)[:, None]
    keys = rows * width + recommended
    truth = np.unique(np.asarray(relevant_rows, np.int64) * width + relevant_items)
    hits: np.ndarray = np.isin(keys, truth) & (recommended >= 0)
    return hits
