"""Known answers for select/update/propensity of each policy, and the regret properties."""

from __future__ import annotations

import numpy as np
import pytest

from ecorec.bandits import EpsilonGreedy, LinUCB, ThompsonSampling
from ecorec.bandits.regret import bernoulli_regret, linear_regret
from ecorec.bandits.thompson import MIN_PROPENSITY, win_probability

ROUNDS = 10_000


def _environment(seed: int) -> np.ndarray:
    return np.random.default_rng(100 + seed).uniform(0.05, 0.5, 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thompson_regret_is_sublinear_and_below_epsilon_greedy(seed: int) -> None:
    means = _environment(seed)
    ts = bernoulli_regret(ThompsonSampling(), means, ROUNDS, np.random.default_rng(seed))
    eg = bernoulli_regret(
        EpsilonGreedy({"epsilon": 0.1}), means, ROUNDS, np.random.default_rng(seed)
    )
    half = ROUNDS // 2
    # sub-linear: the second 5,000 rounds cost less than half of what the first 5,000 did
    assert ts[half:].sum() < 0.5 * ts[:half].sum()
    # and the average regret keeps falling at every doubling of the horizon
    averages = [ts[:t].mean() for t in (1250, 2500, 5000, 10_000)]
    assert all(b < a for a, b in zip(averages, averages[1:], strict=False))
    assert ts.sum() < eg.sum()
    # ε-greedy cannot do better than its exploration floor ε · mean gap per round (linear)
    floor = 0.1 * float(np.mean(means.max() - means))
    assert eg[half:].sum() > 0.5 * floor * half


def test_linucb_learns_a_linear_reward() -> None:
    weights = np.random.default_rng(7).standard_normal((5, 6))
    lin = linear_regret(LinUCB({"n_features": 6}), weights, 3000, np.random.default_rng(1))
    uniform = linear_regret(
        EpsilonGreedy({"epsilon": 1.0}), weights, 3000, np.random.default_rng(1)
    )
    assert lin.sum() < 0.05 * uniform.sum()
    assert lin[1500:].sum() < lin[:1500].sum()


def test_linucb_recovers_ridge_solution() -> None:
    rng = np.random.default_rng(0)
    policy = LinUCB({"arms": ["a"], "n_features": 3, "reg": 1.0})
    xs = rng.standard_normal((50, 3))
    ys = xs @ np.array([0.5, -1.0, 2.0])
    for x, y in zip(xs, ys, strict=True):
        policy.update("a", float(y), x)
    ridge = np.linalg.solve(xs.T @ xs + np.eye(3), xs.T @ ys)
    np.testing.assert_allclose(policy.A_inv[0] @ policy.b[0], ridge, rtol=1e-9)
    np.testing.assert_allclose(policy.A_inv[0], np.linalg.inv(policy.A[0]), atol=1e-12)


def test_linucb_ties_share_the_propensity() -> None:
    policy = LinUCB({"arms": ["a", "b", "c", "d"], "n_features": 2})
    picks = {policy.select(np.array([1.0, 0.0]), rng=np.random.default_rng(s)) for s in range(40)}
    assert {p.propensity for p in picks} == {0.25}
    assert {p.arm for p in picks} == {"a", "b", "c", "d"}


def test_linucb_rejects_a_wrong_context_shape() -> None:
    policy = LinUCB({"arms": ["a"], "n_features": 2})
    with pytest.raises(ValueError, match="shape"):
        policy.select(np.zeros(3), rng=np.random.default_rng(0))


def test_thompson_propensity_matches_selection_frequency() -> None:
    ts = ThompsonSampling({"arms": ["a", "b", "c"]})
    for arm, clicks, shows in (("a", 3, 10), ("b", 5, 12), ("c", 1, 8)):
        for k in range(shows):
            ts.update(arm, float(k < clicks))
    rng = np.random.default_rng(3)
    picks = [ts.select(rng=rng) for _ in range(3000)]
    for arm in "abc":
        frequency = np.mean([p.arm == arm for p in picks])
        propensity = np.mean([p.propensity for p in picks if p.arm == arm])
        assert abs(frequency - propensity) < 0.03, arm


def test_thompson_win_probability_known_answer() -> None:
    # Beta(a, 1) has CDF x**a, so arm i is the largest with probability a_i / sum(a)
    alpha = np.array([1.0, 2.0, 3.0, 5.0])
    beta = np.ones(4)
    for i in range(4):
        assert win_probability(alpha, beta, i) == pytest.approx(alpha[i] / 11, abs=1e-6)
        assert win_probability(alpha, beta, i, nodes=16) == pytest.approx(alpha[i] / 11, abs=1e-3)


def test_thompson_win_probability_matches_many_draws() -> None:
    # item arms as a served explore slot sees them: most at the prior, some shown and skipped
    rng = np.random.default_rng(7)
    alpha = np.ones(60)
    beta = np.ones(60)
    beta[:25] += rng.integers(1, 15, 25)
    alpha[:6] += rng.integers(1, 4, 6)
    winners = np.argmax(rng.beta(alpha, beta, size=(200_000, 60)), axis=1)
    exact = np.array([win_probability(alpha, beta, i) for i in range(60)])
    assert exact.sum() == pytest.approx(1.0, abs=1e-4)
    frequency = np.bincount(winners, minlength=60) / len(winners)
    # 200,000 draws: a frequency's standard error is at most 0.0011
    np.testing.assert_allclose(exact, frequency, atol=0.004)


def test_thompson_win_probability_stays_positive() -> None:
    # an arm that cannot realistically win still reports a finite IPS weight
    p = win_probability(np.array([1.0, 500.0]), np.array([500.0, 1.0]), 0)
    assert p == MIN_PROPENSITY


def test_thompson_identical_posteriors_are_exactly_uniform() -> None:
    ts = ThompsonSampling({"arms": ["a", "b", "c", "d"]})
    assert ts.select(rng=np.random.default_rng(0)).propensity == 0.25
    assert ts.select(arms=["x"], rng=np.random.default_rng(0)) == ("x", 1.0)


def test_thompson_adds_new_arms_at_the_prior() -> None:
    ts = ThompsonSampling({"prior_alpha": 2.0, "prior_beta": 3.0})
    ts.update("new", 1.0)
    assert ts.means() == {"new": 3.0 / 6.0}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ts.update("new", 2.0)


def test_epsilon_greedy_propensity_is_exact() -> None:
    policy = EpsilonGreedy({"arms": ["a", "b", "c", "d"], "epsilon": 0.2})
    policy.update("a", 1.0)
    rng = np.random.default_rng(0)
    picks = [policy.select(rng=rng) for _ in range(4000)]
    expected = {"a": 0.8 + 0.05, "b": 0.05, "c": 0.05, "d": 0.05}
    for pick in picks:
        assert pick.propensity == pytest.approx(expected[pick.arm])
    assert np.mean([p.arm == "a" for p in picks]) == pytest.approx(0.85, abs=0.02)


def test_select_needs_arms() -> None:
    with pytest.raises(ValueError, match="at least one arm"):
        ThompsonSampling().select(rng=np.random.default_rng(0))
