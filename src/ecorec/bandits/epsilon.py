"""ε-greedy: the baseline every smarter bandit has to beat.

With probability ε it plays a uniformly random arm, otherwise the arm with the best mean
reward so far. Its exploration never fades, so its regret grows linearly (about ε × the mean
gap per round): the regret tests and benchmark show Thompson Sampling's does not. The
propensity is exact: ``(1 - ε) / ties`` for a greedy arm plus ``ε / arms`` for every arm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from ecorec.bandits.base import BanditPolicy, Selection, candidate_arms
from ecorec.core.component import ComponentConfig


class EpsilonGreedyConfig(ComponentConfig):
    """Parameters of :class:`EpsilonGreedy`.

    Attributes:
        arms: arms known from the start.
        epsilon: probability of a uniformly random arm.
        initial_value: mean reward assumed for an arm never played (0 is pessimistic; a value
            above every true mean forces each arm to be tried once).

    """

    arms: list[str] = Field(default_factory=list)
    epsilon: float = Field(0.1, ge=0, le=1)
    initial_value: float = 0.0


class EpsilonGreedy(BanditPolicy):
    """Greedy on sample means, uniformly random with probability ε.

    Example:
        >>> import numpy as np
        >>> policy = EpsilonGreedy({"arms": ["a", "b"], "epsilon": 0.0})
        >>> policy.update("b", 1.0)
        >>> policy.select(rng=np.random.default_rng(0))
        Selection(arm='b', propensity=1.0)

    """

    name = "epsilon_greedy"
    Config = EpsilonGreedyConfig
    config: EpsilonGreedyConfig

    def _empty(self) -> None:
        self.counts = np.zeros(0)
        self.sums = np.zeros(0)

    def _grow(self, count: int) -> None:
        self.counts = np.concatenate([self.counts, np.zeros(count)])
        self.sums = np.concatenate([self.sums, np.zeros(count)])

    def values(self, rows: np.ndarray) -> np.ndarray:
        """Mean reward of each row, ``initial_value`` where the arm was never played."""
        counts = self.counts[rows]
        means = np.divide(self.sums[rows], counts, out=np.zeros(len(rows)), where=counts > 0)
        return np.where(counts > 0, means, self.config.initial_value)

    def select(
        self,
        context: np.ndarray | None = None,
        arms: Sequence[str] | None = None,
        *,
        rng: np.random.Generator,
    ) -> Selection:
        """Explore with probability ε, else exploit; ``context`` is ignored."""
        names = candidate_arms(self.arms, arms)
        values = self.values(np.asarray(self._ensure(names)))
        greedy = np.flatnonzero(values == values.max())
        eps = self.config.epsilon
        if rng.random() < eps:
            chosen = int(rng.integers(len(names)))
        else:
            chosen = int(greedy[rng.integers(len(greedy))])
        share = (1.0 - eps) / len(greedy) if chosen in greedy else 0.0
        return Selection(names[chosen], share + eps / len(names))

    def update(self, arm: str, reward: float, context: np.ndarray | None = None) -> None:
        """Add one observed reward to ``arm``'s running mean."""
        (row,) = self._ensure([arm])
        self.counts[row] += 1.0
        self.sums[row] += float(reward)
        self.n_updates += 1

    def revise(self, arm: str, old: float, new: float) -> None:
        """Replace one earlier reward ``old`` of ``arm`` by ``new`` in its running mean."""
        (row,) = self._ensure([arm])
        if self.counts[row] < 1:
            raise ValueError(f"arm {arm!r} has no earlier reward to revise")
        self.sums[row] += float(new) - float(old)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "sums": self.sums}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts = np.asarray(arrays["counts"], dtype=float)
        self.sums = np.asarray(arrays["sums"], dtype=float)
