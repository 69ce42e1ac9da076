"""Off-policy estimates on the Open Bandit Dataset sample against the on-policy click rates.

The issue's check: estimating the random and Bernoulli-TS logging policies' click rates from
the *other* policy's log must land inside the on-policy value's confidence interval. With the
10,000-round "all" sample it holds for Bernoulli TS estimated from the random log (IPS, SNIPS
and DR); for the random policy estimated from the Bernoulli-TS log, IPS and SNIPS land just
below the on-policy interval (0.00236 / 0.00233 vs [0.00259, 0.00501]; strict xfails below
record it), although every estimate's own interval covers the on-policy value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecorec.bandits import Estimate, doubly_robust, ips, on_policy, snips
from ecorec.bandits.estimators import dr_inputs
from ecorec.bandits.logged import (
    LoggedBandit,
    action_distribution,
    load_obd,
    per_round,
    table_reward_model,
    uniform_distribution,
)
from tests.conftest import SHARED

OBD = SHARED / "datasets" / "obd"


@pytest.fixture(scope="module")
def logs() -> dict[str, LoggedBandit]:
    if not (OBD / "random").is_dir() or not (OBD / "bts").is_dir():
        pytest.fail(f"Open Bandit Dataset sample not found at {OBD}: shared datasets missing")
    return {policy: load_obd(OBD, policy) for policy in ("random", "bts")}


def _estimates(logs: dict[str, LoggedBandit], target: str) -> dict[str, Estimate]:
    """IPS, SNIPS and DR of ``target`` from the other policy's log."""
    behaviour = logs["random" if target == "bts" else "bts"]
    uniform = uniform_distribution(behaviour)
    dist = action_distribution(logs["bts"]) if target == "bts" else uniform
    model = table_reward_model(behaviour, np.random.default_rng(0))
    pi, q, v = dr_inputs(per_round(dist, behaviour), model, behaviour.actions)
    r, p = behaviour.rewards, behaviour.propensities
    return {
        "ips": ips(r, p, pi),
        "snips": snips(r, p, pi),
        "dr": doubly_robust(r, p, pi, q, v),
    }


def test_logs_read_as_documented(logs: dict[str, LoggedBandit]) -> None:
    for log in logs.values():
        assert len(log) == 10_000
        assert (log.n_actions, log.n_positions) == (80, 3)
    np.testing.assert_array_equal(logs["random"].propensities, 1 / 80)
    assert on_policy(logs["random"].rewards).value == pytest.approx(0.0038)
    assert on_policy(logs["bts"].rewards).value == pytest.approx(0.0042)
    np.testing.assert_allclose(action_distribution(logs["bts"]).sum(axis=1), 1.0)


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_bts_value_from_the_random_log_is_inside_its_on_policy_interval(
    logs: dict[str, LoggedBandit], method: str
) -> None:
    truth = on_policy(logs["bts"].rewards)
    estimate = _estimates(logs, "bts")[method]
    assert truth.contains(estimate.value), (estimate, truth)
    assert estimate.contains(truth.value)


def test_ips_known_answers(logs: dict[str, LoggedBandit]) -> None:
    assert _estimates(logs, "bts")["ips"].value == pytest.approx(0.0050354, abs=1e-7)
    assert _estimates(logs, "random")["ips"].value == pytest.approx(0.0023596, abs=1e-7)


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_random_value_from_the_bts_log_agrees_with_its_on_policy_value(
    logs: dict[str, LoggedBandit], method: str
) -> None:
    truth = on_policy(logs["random"].rewards)
    estimate = _estimates(logs, "random")[method]
    assert estimate.contains(truth.value)
    # the off- and on-policy values do not differ significantly (two-sided z at 5%)
    z = (estimate.value - truth.value) / np.hypot(estimate.stderr, truth.stderr)
    assert abs(z) < 1.96


@pytest.mark.xfail(
    strict=True, reason="measured: IPS/SNIPS of random from the bts log fall below the interval"
)
@pytest.mark.parametrize("method", ["ips", "snips"])
def test_random_value_from_the_bts_log_is_inside_its_on_policy_interval(
    logs: dict[str, LoggedBandit], method: str
) -> None:
    truth = on_policy(logs["random"].rewards)
    assert truth.contains(_estimates(logs, "random")[method].value)


def test_obd_path_rejects_unknown_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="policy"):
        load_obd(tmp_path, "greedy")
    with pytest.raises(FileNotFoundError):
        load_obd(tmp_path, "bts", "men")
