"""What every bandit policy shares: the ``select``/``update`` contract, arms, persistence.

A policy chooses one arm (an item id for explore slots, any string key otherwise) and reports
the probability with which it chose it, so the impression it produces can later be evaluated
off-line (IPS, SNIPS, DR in :mod:`.estimators`). Randomness always comes from the caller's
:class:`numpy.random.Generator`: the Pipeline derives it per request from
``(seed, user_id, request_id)``, so a replayed request picks the same arm.

Arms are learned lazily: an arm the policy has never seen starts from the prior, so a new item
in the explore pool needs no retraining. State is written to a folder as ``state.json`` (kind,
config, arm ids) plus ``arrays.npz`` (the per-arm statistics), never pickle, so a
:class:`~ecorec.data.registry.ModelRegistry` can hash and version it.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ecorec.core.component import Component
from ecorec.core.events import Event

STATE = "state.json"
ARRAYS = "arrays.npz"


class Selection(NamedTuple):
    """The arm a policy chose and the probability that it would choose that arm."""

    arm: str
    propensity: float


def candidate_arms(known: Sequence[str], arms: Sequence[str] | None) -> list[str]:
    """The arms one ``select`` call chooses among: ``arms`` when given, else every known arm."""
    chosen = list(known) if arms is None else [str(a) for a in arms]
    if not chosen:
        raise ValueError("select needs at least one arm: pass `arms` or configure `arms`")
    if len(set(chosen)) != len(chosen):
        raise ValueError("select got the same arm twice")
    return chosen


def pick_max(scores: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """Index of a maximal score, ties broken uniformly by ``rng``; also the number of ties.

    A deterministic policy's propensity is 1 / (number of ties): each tied arm is equally
    likely to be the one the coin picks.
    """
    best = np.flatnonzero(scores == scores.max())
    if len(best) == 1:
        return int(best[0]), 1
    return int(best[rng.integers(len(best))]), len(best)


class BanditPolicy(Component):
    """Base of Thompson Sampling, LinUCB and ε-greedy: arm bookkeeping and persistence.

    Subclasses keep one row per arm in their statistic arrays (``_grow`` adds rows for new
    arms) and implement :meth:`select`, :meth:`update`, :meth:`_empty`, :meth:`_arrays`
    and :meth:`_set_arrays`.
    """

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._empty()
        self.arms: list[str] = []
        self._index: dict[str, int] = {}
        self.n_updates = 0
        configured = getattr(self.config, "arms", [])
        self._ensure(configured)

    def _ensure(self, arms: Iterable[str]) -> list[int]:
        """Row indices of ``arms``, adding rows (at the prior) for arms never seen."""
        rows = []
        new = []
        for arm in arms:
            row = self._index.get(arm)
            if row is None:
                row = len(self.arms)
                self._index[arm] = row
                self.arms.append(arm)
                new.append(arm)
            rows.append(row)
        if new:
            self._grow(len(new))
        return rows

    def is_trained(self) -> bool:
        """A bandit is usable from its prior, so it is always "trained"."""
        return True

    @abstractmethod
    def _empty(self) -> None:
        """Create the statistic arrays with zero rows (the config is already set)."""

    @abstractmethod
    def _grow(self, count: int) -> None:
        """Append ``count`` prior rows to the statistic arrays."""

    @abstractmethod
    def select(
        self,
        context: np.ndarray | None = None,
        arms: Sequence[str] | None = None,
        *,
        rng: np.random.Generator,
    ) -> Selection:
        """Choose one arm and return it with the probability that the policy chose it."""

    @abstractmethod
    def update(self, arm: str, reward: float, context: np.ndarray | None = None) -> None:
        """Learn from one observed reward of ``arm`` (in ``context`` for contextual policies)."""

    def revise(self, arm: str, old: float, new: float) -> None:
        """Turn one earlier update of ``arm`` with reward ``old`` into reward ``new``.

        Delayed feedback: a live policy counts a shown slot as a failure at once, and a click
        that arrives later revises it, so the state never waits for clicks that may not come.
        Context-free policies only; the default refuses.
        """
        raise NotImplementedError(f"{self.name} cannot revise an earlier reward")

    def update_from_events(self, events: Iterable[Event], reward_types: Iterable[str] = ()) -> int:
        """Learn from logged impressions and the clicks they received; return updates made.

        See :func:`ecorec.bandits.feedback.rewards_from_events` for how events map to rewards.
        """
        from ecorec.bandits.feedback import rewards_from_events

        kinds = tuple(reward_types) or None
        count = 0
        for reward in rewards_from_events(events, policy=self.name, reward_types=kinds):
            self.update(reward.arm, reward.reward, reward.context)
            count += 1
        return count

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The per-arm statistics to save."""

    @abstractmethod
    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_arrays` returned."""

    def save(self, folder: Path) -> dict[str, Any]:
        """Write ``state.json`` and ``arrays.npz`` into ``folder``; return manifest metrics."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "kind": self.name,
            "config": self.config.model_dump(mode="json"),
            "arms": self.arms,
            "n_updates": self.n_updates,
        }
        (folder / STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        np.savez(folder / ARRAYS, **self._arrays())  # type: ignore[arg-type]
        return {"arms": len(self.arms), "updates": self.n_updates}

    def load(self, folder: Path) -> None:
        """Restore the state :meth:`save` wrote (the config stays the one this object has)."""
        folder = Path(folder)
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        if state["kind"] != self.name:
            raise ValueError(f"{folder} holds a {state['kind']!r} policy, not {self.name!r}")
        self.arms = [str(a) for a in state["arms"]]
        self._index = {arm: row for row, arm in enumerate(self.arms)}
        self.n_updates = int(state["n_updates"])
        with np.load(folder / ARRAYS, allow_pickle=False) as data:
            self._set_arrays({key: data[key] for key in data.files})
