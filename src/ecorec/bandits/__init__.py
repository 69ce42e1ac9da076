"""Exploration: bandit policies that log their propensities, and off-policy estimators.

``select(context, arms, rng=...) -> Selection(arm, propensity)`` and
``update(arm, reward, context)`` are shared by :class:`ThompsonSampling`, :class:`LinUCB` and
the :class:`EpsilonGreedy` baseline; :mod:`.estimators` turns the propensities logged with
each impression into IPS / SNIPS / DR estimates of another policy's click rate.
"""

from ecorec.bandits.base import BanditPolicy, Selection
from ecorec.bandits.epsilon import EpsilonGreedy, EpsilonGreedyConfig
from ecorec.bandits.estimators import Estimate, bootstrap, doubly_robust, ips, on_policy, snips
from ecorec.bandits.feedback import Reward, rewards_from_events
from ecorec.bandits.linucb import LinUCB, LinUCBConfig
from ecorec.bandits.state import KINDS, load_policy
from ecorec.bandits.thompson import ThompsonConfig, ThompsonSampling

__all__ = [
    "KINDS",
    "BanditPolicy",
    "EpsilonGreedy",
    "EpsilonGreedyConfig",
    "Estimate",
    "LinUCB",
    "LinUCBConfig",
    "Reward",
    "Selection",
    "ThompsonConfig",
    "ThompsonSampling",
    "bootstrap",
    "doubly_robust",
    "ips",
    "load_policy",
    "on_policy",
    "rewards_from_events",
    "snips",
]
