"""Logged bandit feedback: the Open Bandit Dataset reader and the helpers OPE needs.

The Open Bandit Dataset (Saito et al. 2021) logged the same ZOZOTOWN slots under two
policies, uniform random and Bernoulli Thompson Sampling, so each policy's true click rate
is known from its own log (the on-policy value) and an estimator can be checked by predicting
one policy's value from the other's log. This module reads that log (no ``obp`` dependency),
builds the target policy's action distribution the way OBP does for a non-contextual policy
(one distribution per slot position, identical across rounds), and fits the small reward
model that doubly robust needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from pyarrow import csv

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")


@dataclass(frozen=True)
class LoggedBandit:
    """One logging policy's rounds: which item at which position, clicked or not, and how likely.

    Attributes:
        actions: item index per round, ``0..n_actions-1``.
        positions: slot position per round, ``0..n_positions-1``.
        rewards: click (0/1) per round.
        propensities: the logging policy's probability of that item at that position.
        n_actions: number of items.
        n_positions: number of slot positions.

    """

    actions: np.ndarray
    positions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    n_actions: int
    n_positions: int

    def __len__(self) -> int:
        return len(self.actions)


def obd_path(root: str | Path, policy: str, campaign: str = "all") -> Path:
    """The CSV of one (policy, campaign), in the flat or in the ``obp`` wheel's layout."""
    if policy not in POLICIES or campaign not in CAMPAIGNS:
        raise ValueError(f"policy must be one of {POLICIES}, campaign one of {CAMPAIGNS}")
    base = Path(root) / policy
    for path in (base / f"{campaign}.csv", base / campaign / f"{campaign}.csv"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no Open Bandit Dataset log for {policy}/{campaign} under {root}")


def load_obd(root: str | Path, policy: str, campaign: str = "all") -> LoggedBandit:
    """Read one Open Bandit Dataset log; positions are re-numbered from 0 as OBP does."""
    path = obd_path(root, policy, campaign)
    options = csv.ConvertOptions(
        include_columns=["item_id", "position", "click", "propensity_score"]
    )
    table = csv.read_csv(path, convert_options=options)
    actions = table.column("item_id").to_numpy().astype(np.int64)
    raw = table.column("position").to_numpy()
    levels, positions = np.unique(raw, return_inverse=True)
    items = path.parent / "item_context.csv"
    n_actions = int(actions.max()) + 1
    if items.is_file():
        n_actions = max(n_actions, int(pc.max(csv.read_csv(items).column("item_id")).as_py()) + 1)
    return LoggedBandit(
        actions=actions,
        positions=positions.astype(np.int64),
        rewards=table.column("click").to_numpy().astype(float),
        propensities=table.column("propensity_score").to_numpy().astype(float),
        n_actions=n_actions,
        n_positions=len(levels),
    )


def action_distribution(log: LoggedBandit) -> np.ndarray:
    """``(n_positions, n_actions)``: how often the logging policy showed each item per position.

    A non-contextual policy such as the production Bernoulli TS has one distribution per
    position for a stretch of time; its log's frequencies are an unbiased estimate of that
    distribution averaged over the logging period, which is the policy whose on-policy click
    rate the log measures. (Averaging the logged propensities instead would over-weight the
    items the policy favoured: each round reveals only the shown item's propensity.)
    """
    counts = np.zeros((log.n_positions, log.n_actions))
    np.add.at(counts, (log.positions, log.actions), 1.0)
    dist: np.ndarray = counts / counts.sum(axis=1, keepdims=True)
    return dist


def uniform_distribution(log: LoggedBandit) -> np.ndarray:
    """The uniform random policy: every item equally likely at every position."""
    return np.full((log.n_positions, log.n_actions), 1.0 / log.n_actions)


def per_round(dist: np.ndarray, log: LoggedBandit) -> np.ndarray:
    """``(n, n_actions)``: each round's row of a per-position distribution or reward table."""
    rows: np.ndarray = dist[log.positions]
    return rows


def table_reward_model(
    log: LoggedBandit, rng: np.random.Generator, n_folds: int = 2, prior_strength: float = 50.0
) -> np.ndarray:
    """Cross-fitted click-rate table per (position, item), shrunk to the position's mean.

    Each round's predictions come from a table fitted on the other folds (the cross-fitting
    OBP uses for DR), so a round's own click never leaks into its baseline. A (position, item)
    seen ``n`` times with ``c`` clicks predicts ``(c + m·p) / (n + m)`` where ``p`` is the
    position's click rate in the training folds and ``m`` the ``prior_strength``: clicks are
    rare, and an item seen 30 times without a click has not been shown to have a zero rate.

    Returns:
        ``(n, n_actions)`` predicted click rate of every item at the round's position.

    """
    if n_folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    fold = rng.permutation(len(log)) % n_folds
    out = np.empty((len(log), log.n_actions))
    shape = (log.n_positions, log.n_actions)
    for k in range(n_folds):
        train, test = fold != k, fold == k
        shown, clicks = np.zeros(shape), np.zeros(shape)
        np.add.at(shown, (log.positions[train], log.actions[train]), 1.0)
        np.add.at(clicks, (log.positions[train], log.actions[train]), log.rewards[train])
        base = clicks.sum(axis=1, keepdims=True) / np.maximum(shown.sum(axis=1, keepdims=True), 1)
        table = (clicks + prior_strength * base) / (shown + prior_strength)
        out[test] = table[log.positions[test]]
    return out
