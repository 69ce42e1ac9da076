"""Beyond-accuracy metrics of a batch of recommendation lists: coverage, long tail, exposure.

All take ``recommended``, a ``(users, L)`` matrix of item indices (``-1`` pads a short list),
and count only the filled slots.

* Item coverage = distinct recommended items / catalog size (RecBole's ``ItemCoverage``).
* Long-tail share = share of recommended slots whose item is in the long tail, where the
  *head* is the ``ceil(20%)`` of the catalog with the most training interactions (ties
  broken by lower index; items never interacted with are never head) and the long tail is
  every other catalog item. A slot-weighted share, so a list that keeps recommending the same
  few tail items still counts each time it shows one.
* Gini of exposure = Gini index of how often each catalog item is recommended, items never
  recommended included (RecBole's ``GiniIndex``): 0 when every item is shown equally often,
  ``(n - 1) / n`` when one item takes every slot.

Example:
    >>> import numpy as np
    >>> recs = np.array([[0, 1], [0, 2]])
    >>> item_coverage(recs, 4), long_tail_share(recs, long_tail_mask(np.array([9, 1, 1, 0])))
    (0.75, 0.5)

"""

from __future__ import annotations

import math

import numpy as np

#: Share of the catalog that counts as the popular head for :func:`long_tail_mask`.
HEAD_SHARE = 0.2


def _filled(recommended: np.ndarray) -> np.ndarray:
    recommended = np.asarray(recommended, dtype=np.int64)
    filled: np.ndarray = recommended[recommended >= 0]
    return filled


def long_tail_mask(interaction_counts: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """True for long-tail items: outside the ``head_share`` most-interacted part of the catalog.

    Args:
        interaction_counts: training interactions per catalog item (index = item index).
        head_share: the popular head's share of the catalog (0.2: the top 20% of items).

    Returns:
        A boolean mask over the catalog, True where the item is long tail.

    """
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must be within [0, 1], got {head_share}")
    counts = np.asarray(interaction_counts, dtype=np.float64)
    head_size = math.ceil(head_share * len(counts) - 1e-9)
    order = np.argsort(-counts, kind="stable")[:head_size]
    tail = np.ones(len(counts), dtype=bool)
    tail[order[counts[order] > 0]] = False
    return tail


def item_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Distinct recommended items over the catalog size ``n_items``."""
    if n_items <= 0:
        raise ValueError(f"the catalog must have items, got n_items={n_items}")
    return float(len(np.unique(_filled(recommended))) / n_items)


def long_tail_share(recommended: np.ndarray, tail: np.ndarray) -> float:
    """Share of filled slots whose item is long tail (``tail`` from :func:`long_tail_mask`)."""
    filled = _filled(recommended)
    if not len(filled):
        return 0.0
    return float(np.asarray(tail, dtype=bool)[filled].mean())


def exposure_gini(recommended: np.ndarray, n_items: int) -> float:
    """Gini index of recommendation counts over all ``n_items`` catalog items.

    Uses the sorted-counts form ``sum_i (2i - n - 1) c_(i) / (n * sum c)`` with ``c`` ascending
    and ``i`` from 1, as RecBole's ``GiniIndex`` does.
    """
    if n_items <= 0:
        raise ValueError(f"the catalog must have items, got n_items={n_items}")
    filled = _filled(recommended)
    if not len(filled):
        return 0.0
    counts = np.sort(np.bincount(filled, minlength=n_items)[:n_items]).astype(np.float64)
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2 * ranks - n_items - 1) * counts).sum() / (n_items * counts.sum()))
