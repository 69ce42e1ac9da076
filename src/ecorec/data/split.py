"""Seeded splitters for offline evaluation (the protocols of DESIGN.md §6).

All take an interactions table (``user_id``, ``item_id``, ``timestamp``...) and return one
table per part, so the same split feeds ecorec's models and the peers in a benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    r = np.asarray(ratios, dtype=float)
    if len(r) < 2 or (r < 0).any() or r.sum() <= 0:
        raise ValueError(
            f"ratios must be >= 0 with a positive sum and at least two parts: {ratios}"
        )
    normalised: np.ndarray = r / r.sum()
    return normalised


def split_counts(total: int, ratios: Sequence[float]) -> list[int]:
    """Sizes of each part for ``total`` rows, as RecBole's ``_calcu_split_ids`` computes them.

    Every part but the first gets ``int(ratio * total)``, at least one row when its ratio asks
    for a fraction of one, and the first part takes the rest.
    """
    r = _check_ratios(ratios)
    counts = [int(x * total) for x in r]
    counts[0] = total - sum(counts[1:])
    for i in range(1, len(r)):
        if counts[0] <= 1:
            break
        if 0 < r[-i] * total < 1:
            counts[-i] += 1
            counts[0] -= 1
    return counts


def _user_groups(table: pa.Table) -> list[np.ndarray]:
    """Row indices of each user, users in order of first appearance, rows in table order."""
    users = np.asarray(table.column("user_id").to_numpy(zero_copy_only=False))
    _, first, inverse = np.unique(users, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse))[:-1]
    groups = np.split(order, bounds)
    return [groups[g] for g in np.argsort(first)]


def split_ratio(
    table: pa.Table, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[pa.Table, ...]:
    """Per-user random split (RecBole's ``RO`` with ``group_by=user``): protocol ``recbole-811``.

    Each user's interactions are shuffled with one seeded generator and cut by
    :func:`split_counts`, so every user with enough rows appears in every part.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in ratios]
    for rows in _user_groups(table):
        shuffled = rows[rng.permutation(len(rows))]
        cuts = np.cumsum(split_counts(len(rows), ratios))[:-1]
        for k, chunk in enumerate(np.split(shuffled, cuts)):
            parts[k].append(chunk)
    return tuple(table.take(np.sort(np.concatenate(p))) if p else table.slice(0, 0) for p in parts)


def split_temporal(
    table: pa.Table, ratios: Sequence[float] = (0.8, 0.1, 0.1)
) -> tuple[pa.Table, ...]:
    """Global temporal split (protocol ``ctr-temporal``): sort all rows by time, cut by ratio.

    Ties keep their table order (a stable sort), so the split is deterministic.
    """
    stamps = table.column("timestamp").to_numpy(zero_copy_only=False)
    if np.isnan(stamps.astype(float)).any():
        raise ValueError("a temporal split needs a timestamp on every interaction")
    order = np.argsort(stamps, kind="stable")
    cuts = np.cumsum(split_counts(table.num_rows, ratios))[:-1]
    return tuple(table.take(chunk) for chunk in np.split(order, cuts))


def split_leave_last_out(table: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Each user's last interaction is test, the one before valid, the rest train.

    Users with one interaction keep it in train; with two, train and test.
    """
    stamps = table.column("timestamp").to_numpy(zero_copy_only=False).astype(float)
    stamps = np.where(np.isnan(stamps), np.arange(len(stamps), dtype=float), stamps)
    train, valid, test = [], [], []
    for rows in _user_groups(table):
        ordered = rows[np.argsort(stamps[rows], kind="stable")]
        if len(ordered) >= 3:
            train.append(ordered[:-2])
            valid.append(ordered[-2:-1])
            test.append(ordered[-1:])
        elif len(ordered) == 2:
            train.append(ordered[:1])
            test.append(ordered[1:])
        else:
            train.append(ordered)
    return tuple(
        table.take(np.sort(np.concatenate(p))) if p else table.slice(0, 0)
        for p in (train, valid, test)
    )
