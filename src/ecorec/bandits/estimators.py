"""Off-policy estimators: a new policy's click rate, judged from another policy's log.

Every logged round ``i`` holds the reward ``r_i`` of the action the logging (behaviour)
policy took and the probability ``p_i`` it had of taking it (the ``propensity`` each slot
carries). For a target policy that would take the same action with probability ``π_i``:

* **IPS** weighs each reward by ``w_i = π_i / p_i``: unbiased whenever ``p_i > 0`` wherever
  ``π_i > 0``, but its variance grows with the largest weights.
* **SNIPS** divides by ``Σ w_i`` instead of ``n``: a little bias, much less variance, and the
  estimate stays inside the reward range.
* **DR** (doubly robust) starts from a reward model's prediction of the target policy's
  value and adds the IPS-weighted residuals: unbiased if either the propensities or the
  reward model are right, and less variance than IPS when the model is good.

Each returns an :class:`Estimate` with a normal-approximation confidence interval over the
per-round terms (the delta method for SNIPS's ratio); :func:`bootstrap` gives a percentile
interval for any of them when the normal approximation is doubtful (few clicks, heavy
weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

Array = np.ndarray


@dataclass(frozen=True)
class Estimate:
    """A policy-value estimate with its confidence interval.

    Attributes:
        method: ``on_policy``, ``ips``, ``snips``, ``dr`` (``+bootstrap`` when resampled).
        value: the point estimate.
        lower, upper: the confidence interval.
        stderr: standard error of ``value`` (bootstrap: standard deviation of replicates).
        n: logged rounds used.

    """

    method: str
    value: float
    lower: float
    upper: float
    stderr: float
    n: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the confidence interval."""
        return self.lower <= value <= self.upper


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def _normal(method: str, value: float, terms: Array, confidence: float) -> Estimate:
    """An estimate whose standard error is that of the mean of ``terms``."""
    n = len(terms)
    stderr = float(np.std(terms, ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    half = _z(confidence) * stderr
    return Estimate(method, value, value - half, value + half, stderr, n)


def _weights(rewards: Array, behavior_propensity: Array, target_propensity: Array) -> Array:
    r = np.asarray(rewards, dtype=float)
    p = np.asarray(behavior_propensity, dtype=float)
    pi = np.asarray(target_propensity, dtype=float)
    if not (r.shape == p.shape == pi.shape) or r.ndim != 1 or len(r) == 0:
        raise ValueError("rewards and propensities must be 1-D arrays of the same non-zero length")
    if np.any(p <= 0) or np.any(p > 1) or np.any(pi < 0) or np.any(pi > 1):
        raise ValueError("behaviour propensities must lie in (0, 1], target ones in [0, 1]")
    w: Array = pi / p
    return w


def on_policy(rewards: Array, confidence: float = 0.95) -> Estimate:
    """Mean reward of a policy's own log: the ground truth the estimators are checked against."""
    r = np.asarray(rewards, dtype=float)
    return _normal("on_policy", float(r.mean()), r, confidence)


def ips(
    rewards: Array, behavior_propensity: Array, target_propensity: Array, confidence: float = 0.95
) -> Estimate:
    """Inverse propensity scoring: ``mean(w_i r_i)``."""
    terms = _weights(rewards, behavior_propensity, target_propensity) * np.asarray(rewards)
    return _normal("ips", float(terms.mean()), terms, confidence)


def snips(
    rewards: Array, behavior_propensity: Array, target_propensity: Array, confidence: float = 0.95
) -> Estimate:
    """Self-normalised IPS: ``Σ w_i r_i / Σ w_i``, interval by the delta method."""
    w = _weights(rewards, behavior_propensity, target_propensity)
    if w.sum() <= 0:
        raise ValueError("the target policy never takes a logged action: SNIPS is undefined")
    r = np.asarray(rewards, dtype=float)
    value = float((w * r).sum() / w.sum())
    # linearisation of the ratio: its variance is that of w (r - V) / mean(w)
    terms = w * (r - value) / w.mean()
    est = _normal("snips", value, terms, confidence)
    return est


def doubly_robust(
    rewards: Array,
    behavior_propensity: Array,
    target_propensity: Array,
    reward_hat: Array,
    target_reward_hat: Array,
    confidence: float = 0.95,
) -> Estimate:
    """Doubly robust: ``mean(q̂_π(x_i) + w_i (r_i - q̂(x_i, a_i)))``.

    Args:
        rewards: logged rewards.
        behavior_propensity: logging policy's probability of the logged action.
        target_propensity: target policy's probability of the logged action.
        reward_hat: the reward model's prediction for the logged action, ``q̂(x_i, a_i)``.
        target_reward_hat: the model's value of the target policy in round ``i``,
            ``Σ_a π(a | x_i) q̂(x_i, a)``.
        confidence: interval level.

    """
    w = _weights(rewards, behavior_propensity, target_propensity)
    q = np.asarray(reward_hat, dtype=float)
    v = np.asarray(target_reward_hat, dtype=float)
    if not (q.shape == v.shape == w.shape):
        raise ValueError("reward_hat and target_reward_hat must match the rewards' shape")
    terms = v + w * (np.asarray(rewards, dtype=float) - q)
    return _normal("dr", float(terms.mean()), terms, confidence)


def dr_inputs(
    action_dist: Array, reward_model: Array, actions: Array
) -> tuple[Array, Array, Array]:
    """Per-round inputs of the estimators from full distributions.

    Args:
        action_dist: ``(n, n_actions)`` target policy probabilities per round.
        reward_model: ``(n, n_actions)`` predicted reward of every action per round.
        actions: ``(n,)`` logged action indices.

    Returns:
        ``(target_propensity, reward_hat, target_reward_hat)`` for :func:`doubly_robust`.

    """
    rows = np.arange(len(actions))
    a = np.asarray(actions, dtype=np.int64)
    return (
        action_dist[rows, a],
        reward_model[rows, a],
        np.einsum("ij,ij->i", action_dist, reward_model),
    )


def bootstrap(
    estimator: Callable[..., Estimate],
    *arrays: Array,
    rng: np.random.Generator,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> Estimate:
    """Percentile-bootstrap interval of ``estimator(*arrays)``, resampling logged rounds.

    Example:
        >>> import numpy as np
        >>> r = np.array([0.0, 1.0, 0.0, 1.0]); p = np.full(4, 0.5)
        >>> bootstrap(ips, r, p, p, rng=np.random.default_rng(0), n_boot=50).value
        0.5

    """
    _z(confidence)
    point = estimator(*arrays)
    columns = [np.asarray(a) for a in arrays]
    n = len(columns[0])
    replicates = np.empty(n_boot)
    for k in range(n_boot):
        idx = rng.integers(n, size=n)
        try:
            replicates[k] = estimator(*(c[idx] for c in columns)).value
        except ValueError:  # a resample with no usable weight (e.g. SNIPS with Σw = 0)
            replicates[k] = np.nan
    replicates = replicates[np.isfinite(replicates)]
    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(replicates, [tail, 1.0 - tail])
    return Estimate(
        f"{point.method}+bootstrap",
        point.value,
        float(lower),
        float(upper),
        float(np.std(replicates, ddof=1)),
        n,
    )
