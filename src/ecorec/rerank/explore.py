"""Explore slots: a share of the slate given to discovery candidates, chosen by a bandit.

Ranking models learn from what was shown, so what was never shown never gets the chance to
prove itself. A fixed share of positions (``share = 0.1`` is every 10th slot within
``request.n``, or explicit ``positions``) is therefore filled from the candidates that the
``explore`` / ``long_tail`` recall channels proposed (``Candidate.channels``), and a bandit
policy chooses which.

Arms. By default the arms are **item ids** (``arms = "item"``): the policy keeps one posterior
per explored item, learns which discoveries get clicked, and a new item starts at the prior
without retraining. ``arms = "channel"`` makes the channel names the arms instead: the policy
learns which discovery source earns clicks and the slot takes that channel's best-ranked
candidate. Item arms are the default because they are what the impression log identifies
(``extra.arm`` defaults to the item id, see :mod:`ecorec.bandits.feedback`), and a channel
holds items of very different appeal, so a per-channel rate mixes them.

Only candidates that would not be shown anyway compete for a slot: with ``k`` slots among
``n`` positions, the ``n - k`` best-ranked other candidates fill the remaining positions, so a
discovery item already ranked into them keeps its place and the slots go to ones the ranking
left out. Nothing is dropped: the chosen items move into the slots and every other candidate
keeps its relative order.

Each chosen candidate gets ``propensity`` (the probability with which the policy chose it,
given the items still in the pool for that slot) and the reason ``rerank:explore(<policy>)``;
with channel arms also ``explore_arm:<channel>``, so the impression logger can write the arm.
The generator is seeded by ``(seed, user_id, request_id)``: a replayed request picks the same.

Put ``explore`` after the stages that sort by score (MMR, DPP, creator traffic, fairness):
discovery candidates score low, so a later sort would move them out of their slots.

The policy is trained by replaying logged decisions (impressions whose ``extra`` names an
``arm`` or ``policy``) and the clicks they received, and saved with the policy's own
``state.json`` + ``arrays.npz`` format, so ``ecorec train`` and the registry handle it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from ecorec.bandits.base import BanditPolicy
from ecorec.bandits.epsilon import EpsilonGreedy
from ecorec.bandits.thompson import ThompsonSampling
from ecorec.core.component import Component, ComponentConfig
from ecorec.core.contracts import Candidate, Request, SlateItem
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.lists import request_rng

log = logging.getLogger(__name__)

#: Policies an explore slot can use (LinUCB needs context features the re-ranker lacks).
POLICIES: dict[str, type[BanditPolicy]] = {
    ThompsonSampling.name: ThompsonSampling,
    EpsilonGreedy.name: EpsilonGreedy,
}


class ExploreConfig(ComponentConfig):
    """Parameters of :class:`ExploreSlots`.

    Args:
        share: share of the ``request.n`` positions given to exploration: every
            ``round(1 / share)``-th slot (0.1: positions 9, 19, ...); 0 turns it off.
        positions: explicit 0-based slot positions instead of ``share``.
        channels: recall channels whose candidates may fill a slot.
        arms: ``item`` (one arm per item id) or ``channel`` (one arm per channel).
        policy: ``thompson`` or ``epsilon_greedy``.
        policy_params: the policy's own config (e.g. ``{prior_beta = 9}``), validated by it.
        reward_types: event types that count as a success of a shown slot.
        seed: root of every request's generator.

    """

    share: float = Field(0.1, ge=0.0, le=1.0)
    positions: list[int] | None = None
    channels: list[str] = Field(default_factory=lambda: ["explore", "long_tail"])
    arms: Literal["item", "channel"] = "item"
    policy: Literal["thompson", "epsilon_greedy"] = "thompson"
    policy_params: dict[str, Any] = Field(default_factory=dict)
    reward_types: list[str] = Field(default_factory=lambda: [str(EventType.CLICK)])
    seed: int = 0

    @field_validator("positions")
    @classmethod
    def _non_negative(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(p < 0 for p in value):
            raise ValueError(f"positions must be >= 0, got {value}")
        return value

    @field_validator("reward_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        for kind in value:
            EventType(kind)  # raises ValueError naming the unknown type
        return value

    def slots(self, n: int) -> list[int]:
        """The 0-based positions of the explore slots in a slate of ``n``."""
        if self.positions is not None:
            return sorted({p for p in self.positions if p < n})
        if self.share <= 0.0:
            return []
        every = max(1, round(1.0 / self.share))
        return list(range(every - 1, n, every))


class ExploreSlots(Component):
    """Fills a share of the slate with discovery candidates chosen by a bandit policy.

    Args:
        config: an :class:`ExploreConfig` or its dict.

    Example:
        >>> slots = ExploreSlots({"positions": [1]})
        >>> ranked = [Candidate("a", 3.0, "item_cf"), Candidate("b", 2.0, "item_cf"),
        ...           Candidate("c", 1.0, "long_tail")]
        >>> out = slots(Request("u", n=2, request_id="r1"), Profile("u"), ranked)
        >>> [c.item_id for c in out], out[1].propensity, out[1].reasons
        (['a', 'c', 'b'], 1.0, ['rerank:explore(thompson)'])

    """

    name: ClassVar[str] = "explore"
    Config: ClassVar[type[ComponentConfig]] = ExploreConfig
    config: ExploreConfig

    def __init__(self, config: ExploreConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.policy = self._new_policy()
        # requests (select) and the nearline consumer (observe) share the policy's arrays,
        # which grow when a new arm appears
        self._lock = threading.Lock()

    def _new_policy(self) -> BanditPolicy:
        return POLICIES[self.config.policy](dict(self.config.policy_params))

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        shown = min(request.n, len(ranked))
        slots = self.config.slots(shown)
        if not slots:
            return list(ranked)
        organic = shown - len(slots)  # the best-ranked n - k keep their positions
        apart = set(self.config.channels).isdisjoint
        channels = map(attrgetter("channels"), ranked[organic:])
        pool = [k for k, names in enumerate(channels, organic) if not apart(names)]
        rng = request_rng(self.config.seed, request.user_id, request.request_id)
        chosen: dict[int, int] = {}  # slot position -> index into ranked
        for position in slots:
            if not pool:
                break
            pick = self._pick(ranked, pool, rng)
            pool.remove(pick)
            chosen[position] = pick
        if not chosen:
            return list(ranked)
        taken = set(chosen.values())
        out = [c for k, c in enumerate(ranked) if k not in taken]
        for position in sorted(chosen):  # in slot order, each insert lands at its position
            out.insert(position, ranked[chosen[position]])
        return out

    def _pick(self, ranked: list[Candidate], pool: list[int], rng: np.random.Generator) -> int:
        """Let the policy choose among ``pool``; tag the chosen candidate; return its index."""
        if self.config.arms == "item":
            arms = [ranked[k].item_id for k in pool]
            with self._lock:
                selection = self.policy.select(arms=list(dict.fromkeys(arms)), rng=rng)
            index = pool[arms.index(selection.arm)]
            extra: list[str] = []
        else:
            by_channel: dict[str, int] = {}
            for k in pool:  # pool is in ranked order: the first seen is the channel's best
                for channel in ranked[k].channels:
                    if channel in self.config.channels:
                        by_channel.setdefault(channel, k)
            with self._lock:
                selection = self.policy.select(arms=list(by_channel), rng=rng)
            index = by_channel[selection.arm]
            extra = [f"explore_arm:{selection.arm}"]
        candidate = ranked[index]
        candidate.propensity = selection.propensity
        candidate.reasons.extend([f"rerank:explore({self.policy.name})", *extra])
        return index

    def logged_decision(self, slot: SlateItem) -> dict[str, str] | None:
        """What ``slot``'s impression must carry to be replayed as this policy's decision.

        None when this stage did not choose the slot. The ``arm`` and ``policy`` keys are what
        :func:`~ecorec.bandits.feedback.rewards_from_events` and the nearline consumer read.
        """
        tag = f"rerank:explore({self.policy.name})"
        if tag not in slot.reasons:
            return None
        if self.config.arms == "item":
            arm = slot.item_id
        else:
            arm = next(r.split(":", 1)[1] for r in slot.reasons if r.startswith("explore_arm:"))
        return {"arm": arm, "policy": self.policy.name}

    def observe(self, policy: str, arm: str, reward: float) -> None:
        """Follow one nearline bandit outcome (a listener for the nearline stream).

        ``reward`` 0.0 is a new decision, counted as a failure at once; 1.0 is the click that
        revises it (:data:`~ecorec.data.nearline_schema.BanditOutcome`). Outcomes of another
        policy are ignored.
        """
        if policy != self.policy.name:
            return
        with self._lock:
            if reward == 0.0:
                self.policy.update(arm, 0.0)
            else:
                self.policy.revise(arm, 0.0, reward)

    def update_from_events(self, events: Iterable[Event]) -> int:
        """Learn from logged explore impressions and their rewards; return the updates made."""
        with self._lock:
            return self.policy.update_from_events(events, self.config.reward_types)

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Start from the prior and replay every logged explore decision in ``data``.

        Replaying the whole log (rather than adding to the loaded state) keeps a retrain
        idempotent: the same log gives the same posterior. Without an event log the policy
        stays at its prior, which is a valid policy.
        """
        self.policy = self._new_policy()
        if data.events is None:
            log.warning("explore: no event log to learn from; the policy stays at its prior")
            return
        decisions = list(_decisions(data.events.scan(end=data.end, types=["impression"])))
        requests = {e.request_id for e in decisions}
        rewards = (
            e
            for e in data.events.scan(end=data.end, types=self.config.reward_types)
            if e.request_id in requests
        )
        updates = self.update_from_events([*decisions, *rewards])
        log.info("explore: %d logged decisions replayed", updates)

    def is_trained(self) -> bool:
        """A bandit is usable from its prior."""
        return True

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the policy state (``state.json`` + ``arrays.npz``); return manifest metrics."""
        return self.policy.save(Path(folder))

    def load(self, folder: Path) -> None:
        """Restore the policy state :meth:`save` wrote."""
        self.policy.load(Path(folder))


def _decisions(impressions: Iterable[Event]) -> Iterator[Event]:
    """The impressions a bandit chose (their ``extra`` names an arm or a policy)."""
    for event in impressions:
        extra = event.extra or {}
        if "arm" in extra or "policy" in extra:
            yield event
