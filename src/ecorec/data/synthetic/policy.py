"""The logging policy that chose what the synthetic history shows: popularity mixed with interest.

Sampling is by inverse CDF over cumulative weights (one ``searchsorted`` per slot), globally for
the popularity channel and inside one topic's segment for the interest channel. Items are
numbered in creation order and sorted by creation inside each topic, so the items available
on a day are a prefix of each segment and unpublished items (weight 0) can never be drawn.
"""

from __future__ import annotations

import numpy as np

from ecorec.data.synthetic.latents import DAY, Items
from ecorec.data.synthetic.spec import PlatformSpec


class TopicSampler:
    """Draw indices with probability proportional to ``weights``, globally or within a topic.

    Weights must be positive on a prefix of the indices and of each topic's indices, and zero
    after it (unpublished items); those are never drawn.

    Args:
        weights: non-negative weight per index.
        topic: topic code per index.
        n_topics: number of topic codes.

    Example:
        >>> s = TopicSampler(np.array([1.0, 3.0, 0.0]), np.array([0, 1, 1]), 2)
        >>> s.draw(np.array([0.1, 0.9])).tolist(), s.draw_in(np.array([1]), np.array([0.99]))
        ([0, 1], array([1]))

    """

    def __init__(self, weights: np.ndarray, topic: np.ndarray, n_topics: int) -> None:
        self.weights = weights
        self.topic = topic
        self.total = float(weights.sum())
        self._cum = np.cumsum(weights)
        self._last = max(int(np.count_nonzero(weights)) - 1, 0)
        self._order = np.argsort(topic, kind="stable")
        self._topic_cum = np.cumsum(weights[self._order])
        counts = np.bincount(topic, minlength=n_topics)
        starts = np.cumsum(counts) - counts
        live = np.bincount(topic, weights=weights > 0, minlength=n_topics).astype(np.int64)
        self._topic_last = np.maximum(starts + live - 1, 0)
        self._topic_lo = np.concatenate([[0.0], self._topic_cum])[starts]
        self.mass = np.bincount(topic, weights=weights, minlength=n_topics)

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Map uniforms ``u`` in [0, 1) to indices, proportional to weight over all indices."""
        pos = np.searchsorted(self._cum, u * self.total, side="right")
        return np.minimum(pos, self._last)

    def draw_in(self, topics: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Map uniforms to indices within ``topics`` (callers check ``mass > 0`` first)."""
        x = self._topic_lo[topics] + u * self.mass[topics]
        pos = np.searchsorted(self._topic_cum, x, side="right")
        drawn: np.ndarray = self._order[np.minimum(pos, self._topic_last[topics])]
        return drawn

    def propensity(
        self,
        index: np.ndarray,
        interest_share: np.ndarray,
        topic_interest: np.ndarray,
        orphan_interest: np.ndarray,
    ) -> np.ndarray:
        """Probability that one slot of the mixture policy shows ``index``.

        Args:
            index: the index shown.
            interest_share: the user's chance that the slot came from the interest channel.
            topic_interest: the user's interest in the index's topic.
            orphan_interest: the user's interest in topics with no weight (those draws fall
                back to the popularity channel).

        """
        w = self.weights[index]
        popular = (1.0 - interest_share + interest_share * orphan_interest) * w / self.total
        mass = self.mass[self.topic[index]]
        personal = interest_share * topic_interest * w / np.where(mass > 0, mass, 1.0)
        total: np.ndarray = popular + personal
        return total


def item_sampler(spec: PlatformSpec, items: Items, day: int) -> TopicSampler:
    """Build the item sampler of ``day``: exposure times freshness, published items only.

    Freshness is ``floor + (1 - floor) * 2 ** (-age_days / halflife)``; items published during
    the day are shown from the next day on, so no impression precedes its item's ``created_at``.
    """
    r = spec.response
    day_start = spec.start_ts + day * DAY
    age = np.maximum(day_start - items.created_at, 0.0) / DAY
    fresh = r.fresh_floor + (1.0 - r.fresh_floor) * np.exp2(-age / r.fresh_halflife_days)
    weights = np.where(items.created_at < day_start, items.exposure * fresh, 0.0)
    return TopicSampler(weights, items.topics[:, 0].astype(np.int64), len(spec.topics))
