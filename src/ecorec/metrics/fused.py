"""The fused candidate set of an evaluation: quotas, backfill, and a fast merge for tuning them.

The evaluator builds the fused set with the pipeline's own ``Merge`` (channels in priority
order, each contributing up to its quota of items not yet taken). A quota a channel cannot
fill for a user (curated with no pool, session with no session) would leave the set short of
:data:`FUSED_SIZE`, so :func:`backfilled` hands the shortfall to the channels that filled
theirs, equally, and merges again, until the set is full or no channel has more to give.

:func:`merge_ranked` is the same merge over item-index arrays, thousands of times faster, so
a benchmark can search quotas on the validation split; a test holds it equal to ``Merge``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

#: Candidates in the fused set (the ranker's input size of the issue's goal).
FUSED_SIZE = 200

T = TypeVar("T")


def equal_quotas(names: Sequence[str], total: int = FUSED_SIZE) -> dict[str, int]:
    """``total`` shared equally; the first channels take the remainder, one each.

    Example:
        >>> equal_quotas(["a", "b", "c"], 200)
        {'a': 67, 'b': 67, 'c': 66}

    """
    if not names:
        return {}
    share, extra = divmod(total, len(names))
    return {name: share + (1 if i < extra else 0) for i, name in enumerate(names)}


def fused_quotas(
    names: Sequence[str], configured: Mapping[str, int], total: int = FUSED_SIZE
) -> dict[str, int]:
    """Configured quotas where given; the other channels share what is left of ``total``."""
    fixed = {n: int(configured[n]) for n in names if n in configured}
    rest = [n for n in names if n not in fixed]
    return {**fixed, **equal_quotas(rest, max(total - sum(fixed.values()), 0))}


def backfilled(
    merge_once: Callable[[dict[str, int]], tuple[list[T], Counter[str]]],
    quotas: Mapping[str, int],
    size: int = FUSED_SIZE,
) -> list[T]:
    """Merge with ``quotas``; while short of ``size``, give the shortfall to full channels.

    Args:
        merge_once: merges with the given quotas; returns the merged list and how many items
            each channel contributed.
        quotas: the starting quotas.
        size: the set size to reach.

    Returns:
        At most ``size`` merged items.

    """
    current = dict(quotas)
    merged, taken = merge_once(current)
    for _ in range(2 * len(current) + 1):
        short = size - len(merged)
        if short <= 0:
            break
        # a channel that took its whole quota may have more; one that took less has none left
        able = [n for n, q in current.items() if q > 0 and taken.get(n, 0) >= q]
        if not able:
            break
        for name, extra in equal_quotas(able, short).items():
            current[name] += extra
        merged, taken = merge_once(current)
    return merged[:size]


def merge_ranked(
    ranked: Sequence[np.ndarray], quotas: Sequence[int], size: int = FUSED_SIZE
) -> tuple[list[int], list[int]]:
    """``Merge`` over item codes: each list in order adds up to its quota of new codes.

    Args:
        ranked: per channel, item codes best first (already filtered by the user's mask).
        quotas: per channel, how many new items it may add.
        size: the cap on the merged list (``Merge``'s ``max_candidates``).

    Returns:
        The merged codes (at most ``size``) and each channel's contribution.

    """
    taken: set[int] = set()
    out: list[int] = []
    counts: list[int] = []
    for codes, quota in zip(ranked, quotas, strict=True):
        added = 0
        for code in codes.tolist():
            if added >= quota:
                break
            if code not in taken:
                taken.add(code)
                out.append(code)
                added += 1
        counts.append(added)
    return out[:size], counts


def fused_codes(
    ranked: Mapping[str, np.ndarray],
    quotas: Mapping[str, int],
    size: int = FUSED_SIZE,
    backfill: bool = True,
) -> list[int]:
    """One user's fused set, in merge order, by :func:`merge_ranked` (with backfill).

    ``backfill=False`` keeps the quotas as they are: a search that grows quotas step by step
    measures partial sets with it.
    """
    names = [n for n in quotas if n in ranked]

    def once(current: dict[str, int]) -> tuple[list[int], Counter[str]]:
        out, counts = merge_ranked([ranked[n] for n in names], [current[n] for n in names], size)
        return out, Counter(dict(zip(names, counts, strict=True)))

    start = {n: quotas[n] for n in names}
    return backfilled(once, start, size) if backfill else once(start)[0]
