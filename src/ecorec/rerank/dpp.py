"""DPP re-ranking: fast greedy MAP inference (Chen, Zhang and Zhou, NeurIPS 2018).

A determinantal point process scores a set ``Y`` by ``det(L_Y)``: large when its items are
both good (the diagonal, quality) and unlike each other (the off-diagonal, similarity). The
kernel is ``L = diag(q) S diag(q)`` with ``S`` the items' cosine similarity and
``q_i = exp(alpha * r_i)``, ``alpha = theta / (2 (1 - theta))``, ``r`` the min-max normalised
ranking score: then ``log det L_Y = (theta / (1 - theta)) sum r + log det S_Y``, the paper's
relevance/diversity trade-off: ``theta = 0`` is pure diversity, ``theta -> 1`` pure relevance.

Greedy MAP (the paper's Algorithm 1) adds, at each step, the item with the largest
``d_i^2 = L_ii - |c_i|^2``, the squared distance of its kernel feature to the span of the chosen
ones, keeping the Cholesky rows ``c_i`` up to date incrementally: ``O(N k^2)`` for ``k`` picks
of ``N``. With a sliding ``window`` (Algorithm 2) each pick only has to differ from the last
``window - 1`` picks, which suits long feeds where an item seen 30 slots ago no longer matters.
When the window slides, this module recomputes the window's Cholesky factor (a ``w x w``
factorisation and one ``(w-1) x N`` solve) instead of the paper's rank-one update (its eqs.
11-13): the same ``c_i`` and ``d_i``, one BLAS call, ``O(w^2 N)`` per slide.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from operator import attrgetter
from typing import ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from ecorec.core.component import ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.rerank.similarity import SimilarityReranker, relevance


def fast_greedy_map(
    kernel: np.ndarray, k: int, window: int | None = None, epsilon: float = 1e-10
) -> list[int]:
    """Indices of up to ``k`` items picked greedily for ``max log det(kernel_Y)``.

    Stops early when no item adds more than ``epsilon`` to the determinant (the rest lie in
    the span of the picks); the first pick is the item with the largest ``kernel[i, i]``.

    Args:
        kernel: a symmetric positive semi-definite ``N x N`` matrix.
        k: most items to pick.
        window: when set, each pick maximises the determinant with the last ``window - 1``
            picks only (Algorithm 2); ``None`` or ``window >= k`` is Algorithm 1.
        epsilon: smallest ``d_i^2`` worth a pick.

    Returns:
        Picked indices in pick order.

    """
    return greedy_map(np.diag(kernel), lambda j: kernel[j], k, window, epsilon)


def greedy_map(
    diagonal: np.ndarray,
    row: Callable[[int], np.ndarray],
    k: int,
    window: int | None = None,
    epsilon: float = 1e-10,
) -> list[int]:
    """:func:`fast_greedy_map` reading only the kernel's diagonal and the picked rows.

    A re-ranker never needs the ``N x N`` kernel: ``row(j)`` of a factored kernel costs
    ``O(N D)``, and only ``k`` rows are read.
    """
    n = len(diagonal)
    k = min(k, n)
    if k <= 0:
        return []
    if window is not None and window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    diagonal = np.asarray(diagonal, dtype=np.float64)
    d2 = diagonal.copy()  # a pick's d2 is -inf from then on, so argmax never picks it again
    chol = np.zeros((k, n))  # row t holds the t-th Cholesky coordinate of every item
    rows = 0  # Cholesky rows in use (the picks of the current window)
    # kernel row of each pick, kept only for a window's refactoring
    kernel_rows = np.zeros((k if window is not None else 0, n))
    picked: list[int] = []
    while len(picked) < k:
        j = int(d2.argmax())
        dj = float(d2[j])
        if dj <= epsilon:
            break
        kernel_row = row(j)
        if window is not None:
            kernel_rows[len(picked)] = kernel_row
        picked.append(j)
        d2[j] = -np.inf
        if len(picked) == k or window == 1:
            continue  # window 1: each pick stands alone, d_i^2 stays the quality L_ii
        if window is not None and rows == window - 1:
            last = slice(len(picked) - rows, len(picked))
            rows = _slide(kernel_rows[last], picked[last], chol, diagonal, d2)
            d2[picked] = -np.inf
            continue
        e = chol[rows]
        np.subtract(kernel_row, chol[:rows, j] @ chol[:rows], out=e)
        e /= math.sqrt(dj)
        rows += 1
        d2 -= e * e
    return picked


def _slide(
    block_rows: np.ndarray,
    last: list[int],
    chol: np.ndarray,
    diagonal: np.ndarray,
    d2: np.ndarray,
) -> int:
    """Re-factor the window ``last`` (the oldest pick dropped): fills ``chol``/``d2``, in place.

    ``c_i = V^{-1} L[last, i]`` with ``V V^T = L[last, last]`` (lower Cholesky), and
    ``d_i^2 = L_ii - |c_i|^2``: the same state Algorithm 2 reaches by its rank-one update.
    """
    factor = np.linalg.cholesky(block_rows[:, last])
    coords = np.linalg.solve(factor, block_rows)
    rows = len(last)
    chol[:rows] = coords
    d2[:] = diagonal - np.einsum("ij,ij->j", coords, coords)
    return rows


def quality(scores: np.ndarray, theta: float) -> np.ndarray:
    """``exp(alpha r)`` with ``alpha = theta / (2 (1 - theta))`` and ``r`` min-max scaled scores."""
    return np.exp(theta / (2.0 * (1.0 - theta)) * relevance(scores))


class DPPConfig(ComponentConfig):
    """Parameters of :class:`DPPReranker`.

    Args:
        theta: relevance/diversity trade-off in [0, 1): 0 is diversity only.
        top_k: positions filled by the DPP; the rest follow in rank order.
        window: sliding window (each pick differs from the last ``window - 1``); ``None``
            compares each pick with every earlier one.
        reg: added to the similarity's diagonal (then rescaled to keep it 1), so the kernel
            stays full rank when there are more picks than distinct labels.

    """

    theta: float = Field(0.7, ge=0.0, lt=1.0)
    top_k: PositiveInt = 50
    window: PositiveInt | None = None
    reg: float = Field(0.01, ge=0.0, le=1.0)


class DPPReranker(SimilarityReranker):
    """Re-orders the top of a ranked list to the greedy DPP MAP of quality x similarity.

    Every candidate is kept: the ``top_k`` picks come first, each tagged ``rerank:dpp``, then
    the others in their ranked order. Scores are left as ranked.

    Args:
        config: a :class:`DPPConfig` or its dict.
        entities: item metadata for the similarity (tests); otherwise from :meth:`attach`.
        embeddings: item id -> vector to compare instead of category and tags.

    Example:
        >>> from ecorec.core.entities import Item
        >>> from ecorec.features.entities import Entities
        >>> items = [Item("a", category="x"), Item("b", category="x"), Item("c", category="y")]
        >>> dpp = DPPReranker({"theta": 0.5, "top_k": 2}, entities=Entities.of(items=items))
        >>> ranked = [Candidate(i, s, "popular") for i, s in [("a", 3.0), ("b", 2.0), ("c", 1.0)]]
        >>> [c.item_id for c in dpp(Request("u"), Profile("u"), ranked)]
        ['a', 'c', 'b']

    """

    name: ClassVar[str] = "dpp"
    Config: ClassVar[type[ComponentConfig]] = DPPConfig
    config: DPPConfig

    def kernel(self, ranked: Sequence[Candidate]) -> np.ndarray:
        """``diag(q) S' diag(q)`` for ``ranked``, ``S' = (S + reg I) / (1 + reg)`` (for tests)."""
        vectors, q = self._factors(ranked)
        return np.stack([self._row(vectors, q, j) for j in range(len(ranked))])

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        if len(ranked) < 2:
            return list(ranked)
        vectors, q = self._factors(ranked)
        picks = greedy_map(
            q * q,  # S' has a unit diagonal
            partial(self._row, vectors, q),
            self.config.top_k,
            self.config.window,
        )
        chosen = set(picks)
        for k in picks:
            ranked[k].reasons.append("rerank:dpp")
        return [ranked[k] for k in picks] + [c for k, c in enumerate(ranked) if k not in chosen]

    def _factors(self, ranked: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.similarity.vectors(list(map(attrgetter("item_id"), ranked)))
        scores = np.fromiter(map(attrgetter("score"), ranked), np.float64, len(ranked))
        return vectors, quality(scores, self.config.theta)

    def _row(self, vectors: np.ndarray, q: np.ndarray, j: int) -> np.ndarray:
        """Row ``j`` of the kernel, ``O(N D)``: an unknown item is similar to nothing but itself."""
        sim: np.ndarray = vectors @ vectors[j]
        sim /= 1.0 + self.config.reg
        sim[j] = 1.0
        sim *= q
        sim *= q[j]
        return sim
