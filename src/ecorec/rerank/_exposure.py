"""Exposure arithmetic and the user side of :mod:`ecorec.rerank.fairness`.

The user-side goal: people of every user group receive equally good content. What one request
delivers is its **delivered quality**, the position-weighted mean quality of what it shows,
``sum_p q_p e_p / sum_p e_p`` over the first ``depth`` positions with ``e_p = 1 / log2(1 + p)``
(divided by the exposure so that requests for different ``n`` are comparable; the value stays
in the quality's [0, 1]). One request sees one user, so the comparison needs state across
requests: :class:`UserQuality` keeps, per user group, an exponentially decayed mean of the
delivered quality, a request's weight halving every ``half_life`` requests *of that group*
(a group that is rarely served is not forgotten faster than a busy one). The state lives in
the process's memory and resets when the process restarts; after a restart the groups'
averages rebuild from their first requests (the mean is bias-corrected, so the first request
already counts fully).

The lift is a blend: ``(1 - lift) * relevance + lift * quality`` (both min-max scaled over the
window), with ``lift`` in ``[0, cap]``. A blend rather than a multiplicative boost because the
quality of an item says nothing about the group's calibration of scores: the user-side
problem is that *this list* puts good items low, and only moving toward quality order fixes
that. Its size is found, not tuned: :func:`smallest_lift` bisects for the smallest ``lift``
whose ordering delivers the quality the group needs (:meth:`UserQuality.need`: the value
that leaves the group's running mean at ``target`` times the best other group's). The larger
the shortfall, the larger the lift; ``cap`` bounds what relevance a request can lose. This is
sound because the delivered quality never decreases as ``lift`` grows: the order only changes
when a higher-quality item overtakes a neighbour of higher relevance, and each such swap moves
quality up the list.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ecorec.rerank.similarity import relevance

#: ``User`` fields a user group can be read from (any other name is a key of ``User.attrs``).
USER_FIELDS = ("segment", "region", "group")

#: ``User`` fields that are not groups (ids, times, rates): rejected as ``user_group_by``.
NOT_GROUPS = ("user_id", "created_at", "activity", "attrs")

#: Bisection rounds of :func:`smallest_lift` (the lift is found to ``cap / 2**12``).
LIFT_STEPS = 12


def position_exposure(positions: np.ndarray, depth: int) -> np.ndarray:
    """``1 / log2(1 + p)`` of 1-based ``positions``, 0 past ``depth``."""
    p = np.asarray(positions, dtype=np.float64)
    out: np.ndarray = np.where(p <= depth, 1.0 / np.log2(1.0 + p), 0.0)
    return out


def delivered_quality(quality: np.ndarray, order: np.ndarray, depth: int) -> float:
    """Position-weighted mean quality of the first ``depth`` of ``order``; 0.0 when empty.

    Args:
        quality: quality of each candidate, in [0, 1].
        order: candidate indices, best first.
        depth: positions that earn exposure.

    """
    shown = np.asarray(quality, dtype=np.float64)[np.asarray(order)[:depth]]
    if not len(shown):
        return 0.0
    weights = position_exposure(np.arange(1, len(shown) + 1), depth)
    return float(shown @ weights / weights.sum())


def blend(rel: np.ndarray, quality: np.ndarray, lift: float) -> np.ndarray:
    """``(1 - lift) * rel + lift * quality``, quality min-max scaled first (both in [0, 1])."""
    out: np.ndarray = (1.0 - lift) * rel + lift * relevance(quality)
    return out


def _order(scores: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.argsort(-scores, kind="stable")
    return out


def smallest_lift(
    rel: np.ndarray, quality: np.ndarray, need: float, cap: float, depth: int
) -> float:
    """The smallest blend weight in ``[0, cap]`` whose order delivers ``need``.

    When even ``cap`` falls short, the smallest weight that delivers as much as ``cap`` does
    (0.0 when the blend cannot raise the quality at all, as with equal qualities).

    Args:
        rel: relevance of each candidate in [0, 1].
        quality: quality of each candidate in [0, 1].
        need: delivered quality to reach.
        cap: largest weight allowed.
        depth: positions that earn exposure.

    Example:
        >>> rel, quality = np.array([1.0, 0.9, 0.0]), np.array([0.0, 0.5, 1.0])
        >>> round(smallest_lift(rel, quality, need=0.6, cap=1.0, depth=1), 2)  # 9 / 14
        0.64

    """

    def value(lift: float) -> float:
        return delivered_quality(quality, _order(blend(rel, quality, lift)), depth)

    goal = min(need, value(cap))
    if cap <= 0 or value(0.0) >= goal:
        return 0.0
    low, high = 0.0, cap
    for _ in range(LIFT_STEPS):
        middle = (low + high) / 2.0
        if value(middle) >= goal:
            high = middle
        else:
            low = middle
    return high


class UserQuality:
    """Exponentially decayed mean of delivered quality per user group (in memory).

    Each group keeps a decayed sum ``S`` and decayed count ``W``; a request multiplies both by
    ``d = 2 ** (-1 / half_life)`` and adds its value and 1, so the mean ``S / W`` weighs a
    request ``half_life`` requests old half as much as the newest.

    Args:
        half_life: requests of a group after which a request's weight halves.

    Example:
        >>> users = UserQuality(half_life=1.0)
        >>> users.record("a", 1.0); users.record("a", 0.0)
        >>> round(users.average("a"), 4)  # (0.5 * 1 + 0) / (0.5 + 1)
        0.3333

    """

    def __init__(self, half_life: float) -> None:
        self.decay = math.pow(2.0, -1.0 / half_life)
        self._sums: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def average(self, group: str) -> float | None:
        """The group's running mean, ``None`` before its first request."""
        total, count = self._sums.get(group, (0.0, 0.0))
        return total / count if count > 0 else None

    def averages(self) -> dict[str, float]:
        """Every group's running mean."""
        with self._lock:
            return {g: s / w for g, (s, w) in self._sums.items() if w > 0}

    def need(self, group: str, target: float) -> float | None:
        """Delivered quality this request needs so ``group`` ends within ``target`` of the best.

        ``None`` when no other group has a mean yet (there is nothing to compare with). The
        value solves ``(d S + q) / (d W + 1) = target * best`` for ``q``, ``best`` being the
        highest other group's mean; it is negative when the group is comfortably ahead.
        """
        with self._lock:
            others = [s / w for g, (s, w) in self._sums.items() if g != group and w > 0]
            total, count = self._sums.get(group, (0.0, 0.0))
        if not others:
            return None
        return target * max(others) * (self.decay * count + 1.0) - self.decay * total

    def record(self, group: str, value: float) -> None:
        """Add what one request of ``group`` delivered."""
        with self._lock:
            total, count = self._sums.get(group, (0.0, 0.0))
            self._sums[group] = (self.decay * total + value, self.decay * count + 1.0)
