"""Beta–Bernoulli Thompson Sampling: one Beta posterior per arm over its click rate.

Each ``select`` draws one click rate per candidate arm from its posterior and plays the
largest: arms are chosen with the posterior probability that they are the best, which explores
uncertain arms exactly as much as their chance of being best warrants (Agrawal & Goyal 2012:
logarithmic regret). That probability has no closed form over many arms, so the propensity is
a Monte-Carlo estimate: the selecting draw plus ``propensity_draws`` more posterior draws, and
the share of them in which the chosen arm wins. Counting the selecting draw keeps the estimate
above zero (an IPS weight must stay finite) and its error is about ``1/sqrt(draws+1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from ecorec.bandits.base import BanditPolicy, Selection, candidate_arms
from ecorec.core.component import ComponentConfig


class ThompsonConfig(ComponentConfig):
    """Parameters of :class:`ThompsonSampling`.

    Attributes:
        arms: arms known from the start (more are added when ``select``/``update`` name them).
        prior_alpha: prior successes of a new arm (Beta α).
        prior_beta: prior failures of a new arm (Beta β).
        propensity_draws: extra posterior draws used to estimate the propensity; its standard
            error is at most ``0.5 / sqrt(draws + 1)``. Simulations that never log may lower it.

    """

    arms: list[str] = Field(default_factory=list)
    prior_alpha: float = Field(1.0, gt=0)
    prior_beta: float = Field(1.0, gt=0)
    propensity_draws: int = Field(1000, ge=1)


class ThompsonSampling(BanditPolicy):
    """Thompson Sampling with a Beta(α, β) posterior per arm, for click (0/1) rewards.

    Example:
        >>> import numpy as np
        >>> ts = ThompsonSampling({"arms": ["a", "b"], "propensity_draws": 200})
        >>> for _ in range(50):
        ...     ts.update("a", 1.0)
        ...     ts.update("b", 0.0)
        >>> ts.select(rng=np.random.default_rng(0)).arm
        'a'

    """

    name = "thompson"
    Config = ThompsonConfig
    config: ThompsonConfig

    def _empty(self) -> None:
        self.alpha = np.zeros(0)
        self.beta = np.zeros(0)

    def _grow(self, count: int) -> None:
        self.alpha = np.concatenate([self.alpha, np.full(count, self.config.prior_alpha)])
        self.beta = np.concatenate([self.beta, np.full(count, self.config.prior_beta)])

    def select(
        self,
        context: np.ndarray | None = None,
        arms: Sequence[str] | None = None,
        *,
        rng: np.random.Generator,
    ) -> Selection:
        """Play the arm whose posterior draw is largest; ``context`` is ignored."""
        names = candidate_arms(self.arms, arms)
        rows = np.asarray(self._ensure(names))
        alpha, beta = self.alpha[rows], self.beta[rows]
        draw = rng.beta(alpha, beta)
        chosen = int(np.argmax(draw))
        return Selection(names[chosen], self._propensity(alpha, beta, chosen, rng))

    def _propensity(
        self, alpha: np.ndarray, beta: np.ndarray, chosen: int, rng: np.random.Generator
    ) -> float:
        """Share of posterior draws (the selecting one included) in which ``chosen`` wins."""
        if len(alpha) == 1:
            return 1.0
        if np.all(alpha == alpha[0]) and np.all(beta == beta[0]):
            return 1.0 / len(alpha)  # identical posteriors: exact by symmetry
        draws = self.config.propensity_draws
        samples = rng.beta(alpha, beta, size=(draws, len(alpha)))
        wins = int(np.count_nonzero(np.argmax(samples, axis=1) == chosen))
        return (wins + 1) / (draws + 1)

    def update(self, arm: str, reward: float, context: np.ndarray | None = None) -> None:
        """Add ``reward`` successes and ``1 - reward`` failures to ``arm``'s posterior.

        A fractional reward in [0, 1] (a completion rate) counts as that fraction of a click.
        """
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"Thompson Sampling rewards must lie in [0, 1], got {reward}")
        (row,) = self._ensure([arm])
        self.alpha[row] += reward
        self.beta[row] += 1.0 - reward
        self.n_updates += 1

    def revise(self, arm: str, old: float, new: float) -> None:
        """Move ``new - old`` of one earlier update from failures to successes."""
        if not (0.0 <= old <= 1.0 and 0.0 <= new <= 1.0):
            raise ValueError(f"rewards must lie in [0, 1], got {old} -> {new}")
        (row,) = self._ensure([arm])
        if self.beta[row] - (new - old) < self.config.prior_beta - 1e-9:
            raise ValueError(f"arm {arm!r} has no earlier failure to revise")
        self.alpha[row] += new - old
        self.beta[row] -= new - old

    def means(self) -> dict[str, float]:
        """Posterior mean click rate per arm."""
        mean = self.alpha / (self.alpha + self.beta)
        return dict(zip(self.arms, mean.tolist(), strict=True))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"alpha": self.alpha, "beta": self.beta}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.alpha = np.asarray(arrays["alpha"], dtype=float)
        self.beta = np.asarray(arrays["beta"], dtype=float)
