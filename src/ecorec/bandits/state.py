"""Rebuild a saved bandit policy from its folder, whatever its kind.

``policy.save(folder)`` writes ``state.json`` (kind, config, arms) and ``arrays.npz``;
:func:`load_policy` reads the kind and config back, so a serving process can open the active
version from a :class:`~ecorec.data.registry.ModelRegistry` without knowing which policy the
experiment chose. Nothing is unpickled: ``np.load`` runs with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecorec.bandits.base import STATE, BanditPolicy
from ecorec.bandits.epsilon import EpsilonGreedy
from ecorec.bandits.linucb import LinUCB
from ecorec.bandits.thompson import ThompsonSampling

KINDS: dict[str, type[BanditPolicy]] = {
    ThompsonSampling.name: ThompsonSampling,
    LinUCB.name: LinUCB,
    EpsilonGreedy.name: EpsilonGreedy,
}


def load_policy(folder: str | Path) -> BanditPolicy:
    """Build the policy saved in ``folder`` with its saved config and state.

    Example:
        >>> policy = load_policy(registry.open("explore-bandit"))  # doctest: +SKIP

    """
    folder = Path(folder)
    state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    kind = state.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{folder}: unknown bandit kind {kind!r}; known: {sorted(KINDS)}")
    policy = KINDS[kind](state["config"])
    policy.load(folder)
    return policy
