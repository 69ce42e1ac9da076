"""Known answers and interval coverage of IPS, SNIPS and DR on simulated logs."""

from __future__ import annotations

import numpy as np
import pytest

from ecorec.bandits import bootstrap, doubly_robust, ips, on_policy, snips
from ecorec.bandits.estimators import dr_inputs

R = np.array([1.0, 0.0, 1.0, 0.0])
P = np.array([0.5, 0.5, 0.25, 0.25])
PI = np.array([1.0, 0.0, 1.0, 0.0])


def test_known_answers() -> None:
    assert ips(R, P, PI).value == pytest.approx((2 + 4) / 4)
    assert snips(R, P, PI).value == pytest.approx(1.0)
    # a reward model that predicts nothing leaves DR equal to IPS
    zeros = np.zeros(4)
    assert doubly_robust(R, P, PI, zeros, zeros).value == pytest.approx(1.5)
    # a reward model that is exactly right makes every residual zero: DR = model value
    assert doubly_robust(R, P, PI, R, np.full(4, 0.7)).value == pytest.approx(0.7)


def test_on_policy_weights_reduce_to_the_mean() -> None:
    rng = np.random.default_rng(0)
    r = (rng.random(500) < 0.3).astype(float)
    p = rng.uniform(0.1, 1.0, 500)
    truth = on_policy(r)
    for estimate in (ips(r, p, p), snips(r, p, p)):
        assert estimate.value == pytest.approx(truth.value)
        assert estimate.stderr == pytest.approx(truth.stderr)


def _simulated_log(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Uniform logging over 4 arms with click rates .1 .2 .3 .4; target favours arm 3."""
    means = np.array([0.1, 0.2, 0.3, 0.4])
    target = np.array([0.1, 0.1, 0.2, 0.6])
    actions = rng.integers(4, size=n)
    rewards = (rng.random(n) < means[actions]).astype(float)
    return rewards, np.full(n, 0.25), target[actions], actions, means, target


def test_intervals_cover_the_true_value_about_as_often_as_promised() -> None:
    rng = np.random.default_rng(42)
    hits = {"ips": 0, "snips": 0, "dr": 0}
    runs = 300
    for _ in range(runs):
        rewards, p, pi, actions, means, target = _simulated_log(rng, 2000)
        truth = float(target @ means)
        noisy_model = np.tile(means + 0.05, (len(rewards), 1))  # a biased reward model
        dist = np.tile(target, (len(rewards), 1))
        pi_logged, q, v = dr_inputs(dist, noisy_model, actions)
        np.testing.assert_array_equal(pi_logged, pi)
        hits["ips"] += ips(rewards, p, pi).contains(truth)
        hits["snips"] += snips(rewards, p, pi).contains(truth)
        hits["dr"] += doubly_robust(rewards, p, pi, q, v).contains(truth)
    for method, count in hits.items():
        # 95% intervals over 300 runs: binomial sd of the hit rate is 1.3 points
        assert 0.91 <= count / runs <= 0.99, (method, count)


def test_dr_has_lower_variance_than_ips_with_a_good_model() -> None:
    rng = np.random.default_rng(1)
    rewards, p, pi, actions, means, target = _simulated_log(rng, 5000)
    dist = np.tile(target, (len(rewards), 1))
    _, q, v = dr_inputs(dist, np.tile(means, (len(rewards), 1)), actions)
    assert doubly_robust(rewards, p, pi, q, v).stderr < ips(rewards, p, pi).stderr


def test_bootstrap_interval_brackets_the_point_estimate() -> None:
    rng = np.random.default_rng(2)
    rewards, p, pi, *_ = _simulated_log(rng, 3000)
    normal = ips(rewards, p, pi)
    boot = bootstrap(ips, rewards, p, pi, rng=np.random.default_rng(0), n_boot=400)
    assert boot.method == "ips+bootstrap"
    assert boot.value == normal.value
    assert boot.lower < boot.value < boot.upper
    assert boot.stderr == pytest.approx(normal.stderr, rel=0.2)


def test_bad_propensities_are_refused() -> None:
    with pytest.raises(ValueError, match="propensities"):
        ips(R, np.array([0.5, 0.0, 0.25, 0.25]), PI)
    with pytest.raises(ValueError, match="same"):
        snips(R, P[:3], PI)
