"""Turn logged impressions and clicks into bandit rewards.

The explore re-ranker logs each slot a bandit filled as an ``impression`` event whose
``extra`` carries the decision: ``arm`` (the arm played; defaults to the event's ``item_id``),
``policy`` (the policy's name), ``propensity`` and, for LinUCB, ``context`` (a list of floats).
An impression earns reward 1 when a reward event (``click`` by default) names the same
``request_id``, ``user_id`` and ``item_id``, else 0 — a shown-but-ignored slot is the
negative the bandit must learn from, so impressions without a click are not dropped.

Events may arrive in any order and more than once: they are de-duplicated by ``event_id``
and the rewards are returned in impression time order, so replaying a log twice or in
shuffled batches teaches a policy the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ecorec.core.events import Event, EventType

Key = tuple[str | None, str, str | None]


@dataclass(frozen=True)
class Reward:
    """One bandit decision and its outcome, read back from the event log."""

    arm: str
    reward: float
    context: np.ndarray | None
    propensity: float | None
    ts: float


def _key(event: Event) -> Key:
    return (event.request_id, event.user_id, event.item_id)


def _is_decision(event: Event, policy: str | None) -> bool:
    extra = event.extra or {}
    if "arm" not in extra and "policy" not in extra:
        return False  # an ordinary ranked slot, not a bandit's choice
    return policy is None or extra.get("policy", policy) == policy


def rewards_from_events(
    events: Iterable[Event],
    policy: str | None = None,
    reward_types: Iterable[str] | None = None,
) -> list[Reward]:
    """Pair each bandit impression with whether it was clicked.

    Args:
        events: impressions and reward events, any order, duplicates allowed.
        policy: keep only impressions whose ``extra["policy"]`` is this name (impressions
            without a ``policy`` key are kept).
        reward_types: event types that count as a success (default: ``click``).

    Returns:
        One :class:`Reward` per distinct impression, oldest first.

    """
    kinds = {EventType(kind) for kind in (reward_types or (EventType.CLICK,))}
    seen: set[str] = set()
    impressions: list[Event] = []
    rewarded: set[Key] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        if event.type == EventType.IMPRESSION and _is_decision(event, policy):
            impressions.append(event)
        elif event.type in kinds:
            rewarded.add(_key(event))
    impressions.sort(key=lambda e: (e.ts, e.event_id))
    out = []
    for event in impressions:
        extra = event.extra or {}
        arm = extra.get("arm", event.item_id)
        if arm is None:
            raise ValueError(f"impression {event.event_id} names neither extra.arm nor item_id")
        context = extra.get("context")
        propensity = extra.get("propensity")
        out.append(
            Reward(
                arm=str(arm),
                reward=1.0 if _key(event) in rewarded else 0.0,
                context=None if context is None else np.asarray(context, dtype=float),
                propensity=None if propensity is None else float(propensity),
                ts=event.ts,
            )
        )
    return out
