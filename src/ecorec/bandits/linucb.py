"""Disjoint LinUCB (Li et al. 2010): a ridge regression per arm and an optimistic bonus.

Each arm ``a`` keeps ``A_a = I·reg + Σ x xᵀ`` and ``b_a = Σ r x`` over the contexts in which it
was played; its score for context ``x`` is ``θ_aᵀx + α·sqrt(xᵀ A_a⁻¹ x)`` with
``θ_a = A_a⁻¹ b_a``. The bonus is the width of the confidence ellipsoid in direction ``x``, so
the policy explores where it knows least about *this* context rather than at random. ``A⁻¹``
is kept up to date with the Sherman–Morrison rank-one formula, O(d²) per update instead of a
fresh O(d³) inverse per score.

The policy is deterministic given its state: the propensity of the played arm is
``1 / ties`` (1.0 without a tie), ties being broken by the caller's ``rng``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from ecorec.bandits.base import BanditPolicy, Selection, candidate_arms, pick_max
from ecorec.core.component import ComponentConfig


class LinUCBConfig(ComponentConfig):
    """Parameters of :class:`LinUCB`.

    Attributes:
        arms: arms known from the start.
        n_features: context dimension ``d``.
        alpha: width of the optimism bonus (larger explores more).
        reg: ridge strength: ``A`` starts at ``reg · I``.

    """

    arms: list[str] = Field(default_factory=list)
    n_features: int = Field(..., gt=0)
    alpha: float = Field(1.0, ge=0)
    reg: float = Field(1.0, gt=0)


class LinUCB(BanditPolicy):
    """Disjoint LinUCB over a context vector shared by all arms or given per arm.

    Example:
        >>> import numpy as np
        >>> policy = LinUCB({"arms": ["a", "b"], "n_features": 2, "alpha": 0.1})
        >>> for _ in range(20):
        ...     policy.update("a", 1.0, np.array([1.0, 0.0]))
        ...     policy.update("b", 1.0, np.array([0.0, 1.0]))
        >>> policy.select(np.array([0.0, 1.0]), rng=np.random.default_rng(0)).arm
        'b'

    """

    name = "linucb"
    Config = LinUCBConfig
    config: LinUCBConfig

    def _empty(self) -> None:
        d = self.config.n_features
        self.A = np.zeros((0, d, d))
        self.A_inv = np.zeros((0, d, d))
        self.b = np.zeros((0, d))

    def _grow(self, count: int) -> None:
        d, reg = self.config.n_features, self.config.reg
        eye = np.broadcast_to(np.eye(d), (count, d, d))
        self.A = np.concatenate([self.A, eye * reg])
        self.A_inv = np.concatenate([self.A_inv, eye / reg])
        self.b = np.concatenate([self.b, np.zeros((count, d))])

    def _contexts(self, context: np.ndarray | None, n_arms: int) -> np.ndarray:
        """``(n_arms, d)`` contexts from a shared ``(d,)`` vector or per-arm rows."""
        if context is None:
            raise ValueError("LinUCB needs a context vector")
        x = np.asarray(context, dtype=float)
        d = self.config.n_features
        if x.shape == (d,):
            return np.broadcast_to(x, (n_arms, d))
        if x.shape == (n_arms, d):
            return x
        raise ValueError(f"context must have shape ({d},) or ({n_arms}, {d}), got {x.shape}")

    def scores(self, context: np.ndarray | None, arms: Sequence[str] | None = None) -> np.ndarray:
        """Upper confidence bound of each candidate arm (``arms`` order, else known order)."""
        names = candidate_arms(self.arms, arms)
        rows = np.asarray(self._ensure(names))
        x = self._contexts(context, len(names))
        a_inv = self.A_inv[rows]
        theta = np.einsum("kij,kj->ki", a_inv, self.b[rows])
        mean = np.einsum("ki,ki->k", theta, x)
        width = np.einsum("ki,kij,kj->k", x, a_inv, x)
        ucb: np.ndarray = mean + self.config.alpha * np.sqrt(np.maximum(width, 0.0))
        return ucb

    def select(
        self,
        context: np.ndarray | None = None,
        arms: Sequence[str] | None = None,
        *,
        rng: np.random.Generator,
    ) -> Selection:
        """Play the arm with the highest upper confidence bound for ``context``."""
        names = candidate_arms(self.arms, arms)
        chosen, ties = pick_max(self.scores(context, names), rng)
        return Selection(names[chosen], 1.0 / ties)

    def update(self, arm: str, reward: float, context: np.ndarray | None = None) -> None:
        """Add ``(context, reward)`` to ``arm``'s ridge regression."""
        x = self._contexts(context, 1)[0]
        (row,) = self._ensure([arm])
        self.A[row] += np.outer(x, x)
        self.b[row] += float(reward) * x
        a_inv_x = self.A_inv[row] @ x
        self.A_inv[row] -= np.outer(a_inv_x, a_inv_x) / (1.0 + x @ a_inv_x)
        self.n_updates += 1

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"A": self.A, "A_inv": self.A_inv, "b": self.b}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.A = np.asarray(arrays["A"], dtype=float)
        self.A_inv = np.asarray(arrays["A_inv"], dtype=float)
        self.b = np.asarray(arrays["b"], dtype=float)
