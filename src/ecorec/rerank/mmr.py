"""MMR re-ranking: maximal marginal relevance (Carbonell and Goldstein, SIGIR 1998).

Each position takes the candidate with the best ``lambda * rel - (1 - lambda) * max sim`` to
the candidates already placed: relevant, but not a near-copy of what the user has just been
shown. ``rel`` is the ranking score min-max scaled to [0, 1] so that ``lambda_`` weighs two
quantities of the same range (cosine similarity is at most 1). ``lambda_ = 1`` is the ranked
order by score; ``0`` is diversity alone after the best item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from ecorec.core.component import ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.rerank.similarity import SimilarityReranker, relevance


def mmr_order(
    rel: np.ndarray, sim: np.ndarray | Callable[[int], np.ndarray], lambda_: float, k: int
) -> list[int]:
    """Indices of ``k`` picks by MMR; ties go to the earlier index (the better ranked).

    Args:
        rel: relevance of each item.
        sim: ``N x N`` similarity, or ``j -> row j`` of it (only the picks' rows are read).
        lambda_: weight of relevance, in [0, 1].
        k: picks to make.

    """
    n = len(rel)
    k = min(k, n)
    picked: list[int] = []
    if k <= 0:
        return picked
    closest = np.zeros(n)  # max similarity to the picks so far; 0 before the first
    gain = np.empty(n)
    taken = np.zeros(n, dtype=bool)
    row = sim.__getitem__ if isinstance(sim, np.ndarray) else sim
    for step in range(k):
        np.multiply(lambda_, rel, out=gain)
        gain -= (1.0 - lambda_) * closest
        gain[taken] = -np.inf
        j = int(np.argmax(gain))
        picked.append(j)
        taken[j] = True
        if step == 0:  # "no pick yet" counted as 0, not as a (possibly negative) cosine
            closest[:] = row(j)
        else:
            np.maximum(closest, row(j), out=closest)
    return picked


class MMRConfig(ComponentConfig):
    """Parameters of :class:`MMRReranker`.

    Args:
        lambda_: weight of relevance against redundancy, in [0, 1].
        top_k: positions filled by MMR; the rest follow in rank order.

    """

    lambda_: float = Field(0.7, ge=0.0, le=1.0)
    top_k: PositiveInt = 50


class MMRReranker(SimilarityReranker):
    """Re-orders the top of a ranked list by maximal marginal relevance.

    Every candidate is kept: the ``top_k`` picks come first, each tagged ``rerank:mmr``, then
    the others in their ranked order. Scores are left as ranked.

    Args:
        config: an :class:`MMRConfig` or its dict.
        entities: item metadata for the similarity (tests); otherwise from :meth:`attach`.
        embeddings: item id -> vector to compare instead of category and tags.

    Example:
        >>> from ecorec.core.entities import Item
        >>> from ecorec.features.entities import Entities
        >>> items = [Item("a", category="x"), Item("b", category="x"), Item("c", category="y")]
        >>> mmr = MMRReranker({"lambda_": 0.5}, entities=Entities.of(items=items))
        >>> ranked = [Candidate(i, s, "popular") for i, s in [("a", 3.0), ("b", 2.0), ("c", 1.0)]]
        >>> [c.item_id for c in mmr(Request("u"), Profile("u"), ranked)]
        ['a', 'c', 'b']

    """

    name: ClassVar[str] = "mmr"
    Config: ClassVar[type[ComponentConfig]] = MMRConfig
    config: MMRConfig

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        if len(ranked) < 2:
            return list(ranked)
        rel = relevance(np.array([c.score for c in ranked], dtype=np.float64))
        vectors = self.similarity.vectors([c.item_id for c in ranked])
        picks = mmr_order(rel, lambda j: _row(vectors, j), self.config.lambda_, self.config.top_k)
        chosen = set(picks)
        for k in picks:
            ranked[k].reasons.append("rerank:mmr")
        return [ranked[k] for k in picks] + [c for k, c in enumerate(ranked) if k not in chosen]


def _row(vectors: np.ndarray, j: int) -> np.ndarray:
    """Cosine of item ``j`` with every item; 1 with itself even when unknown (a zero vector)."""
    out: np.ndarray = vectors @ vectors[j]
    out[j] = 1.0
    return out
