"""Simulated environments for measuring a policy's regret: the property tests and benchmark.

Regret is the expected reward lost against always playing the best arm; it is counted with
the arms' true means (pseudo-regret), not the sampled clicks, so two policies compared on the
same seed differ by their choices rather than by the coin flips they happened to see.
"""

from __future__ import annotations

import numpy as np

from ecorec.bandits.base import BanditPolicy


def bernoulli_regret(
    policy: BanditPolicy, means: np.ndarray, rounds: int, rng: np.random.Generator
) -> np.ndarray:
    """Play ``rounds`` rounds of a Bernoulli bandit; return the per-round pseudo-regret.

    Arm ``k`` is named ``str(k)`` and clicks with probability ``means[k]``.
    """
    arms = [str(k) for k in range(len(means))]
    best = float(np.max(means))
    regret = np.empty(rounds)
    for t in range(rounds):
        arm = int(policy.select(arms=arms, rng=rng).arm)
        policy.update(str(arm), float(rng.random() < means[arm]))
        regret[t] = best - means[arm]
    return regret


def linear_regret(
    policy: BanditPolicy,
    weights: np.ndarray,
    rounds: int,
    rng: np.random.Generator,
    noise: float = 0.1,
) -> np.ndarray:
    """A contextual bandit with reward ``weights[k] · x + noise``; per-round pseudo-regret.

    Contexts are drawn uniformly from the unit sphere each round, so the best arm changes
    with the context and only a policy that learns the linear model can follow it.
    """
    n_arms, d = weights.shape
    arms = [str(k) for k in range(n_arms)]
    regret = np.empty(rounds)
    for t in range(rounds):
        raw = rng.standard_normal(size=d)
        x = np.asarray(raw / np.linalg.norm(raw), dtype=float)
        expected = weights @ x
        arm = int(policy.select(x, arms, rng=rng).arm)
        policy.update(str(arm), float(expected[arm] + noise * rng.standard_normal()), x)
        regret[t] = expected.max() - expected[arm]
    return regret
