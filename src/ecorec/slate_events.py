"""The events a served slate writes to the EventLog, the same for the service and the simulator.

Impressions are what off-policy evaluation, CTR training and the health metrics learn from, so
each slot is logged with its request, position, recall channel, propensity and scene, and with
its reasons (``explain`` answers from them after a restart). Two stages add to their slots:

- the explore stage's choices carry ``arm`` and ``policy``, which turns them into logged bandit
  decisions that :func:`~ecorec.bandits.feedback.rewards_from_events` and the nearline consumer
  pair with the clicks they earn;
- an ad slot's impression is the ads stage's accounting event (charged price, cost, eCPM, bid
  type, advertiser), so revenue, eCPM and spend are computed from the log alone.

Event ids derive from the request id and position, so logging a slate twice stores it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ecorec.ads.reranker import AdsReranker
from ecorec.core.contracts import Request, Slate, SlateItem
from ecorec.core.events import Event, EventType
from ecorec.core.pipeline import Pipeline
from ecorec.rerank.explore import ExploreSlots


def slate_events(request: Request, slate: Slate, pipeline: Pipeline) -> list[Event]:
    """One impression per slot of ``slate``, served for ``request`` by ``pipeline``."""
    decisions = [r.logged_decision for r in pipeline.rerankers if isinstance(r, ExploreSlots)]
    ads = next((r for r in pipeline.rerankers if isinstance(r, AdsReranker)), None)
    billed = (
        {
            e.position: e
            for e in ads.accounting_events(request, slate.items, ads.charges(slate.request_id))
        }
        if ads is not None
        else {}
    )
    events = []
    for slot in slate.items:
        extra: dict[str, Any] = {
            "channel": slot.channel,
            "propensity": slot.propensity,
            "scene": request.scene,
            "reasons": list(slot.reasons),
            "is_ad": slot.is_ad,
        }
        extra.update(_decision(slot, decisions))
        accounting = billed.get(slot.position)
        if accounting is not None:
            # the slot's item id ("ad:<ad_id>") too, so explain finds the slot like any other
            extra.update(accounting.extra or {})
            events.append(replace(accounting, item_id=slot.item_id, extra=extra))
            continue
        events.append(
            Event(
                event_id=f"{slate.request_id}:{slot.position}",
                ts=request.ts,
                user_id=request.user_id,
                type=EventType.IMPRESSION,
                item_id=slot.item_id,
                ad_id=slot.ad_id,
                request_id=slate.request_id,
                position=slot.position,
                extra=extra,
            )
        )
    return events


def _decision(
    slot: SlateItem, decisions: Sequence[Callable[[SlateItem], dict[str, str] | None]]
) -> dict[str, str]:
    for decision in decisions:
        found = decision(slot)
        if found is not None:
            return found
    return {}
