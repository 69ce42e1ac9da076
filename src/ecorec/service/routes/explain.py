"""``GET /v1/recommend/{request_id}/explain``: why each slot of a past slate is there.

Recent slates are answered from a bounded in-memory LRU that ``recommend`` fills; older ones,
or any after a restart, from the impressions in the EventLog, which carry each slot's channel
and reasons. Request ids start with the request time (milliseconds, hex), so that lookup reads
a two-second window of impressions instead of the whole log.

API keys are not bound to users: any ``client`` key can explain any request id it knows. A
request id is an unguessable random token handed only to the caller of ``recommend``, and an
explanation names items and channels, never another user's history.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel

from ecorec.core.contracts import Slate
from ecorec.core.events import EventType
from ecorec.service.app import RECENT_SLATES, ServiceState, get_state
from ecorec.service.auth import Principal, Role, require
from ecorec.service.schemas import ErrorResponse

router = APIRouter(prefix="/v1", tags=["recommend"])


class ExplainedSlot(BaseModel):
    """One slot and the reasons the pipeline recorded for it."""

    position: int
    item_id: str
    channel: str
    reasons: list[str]
    is_ad: bool


class ExplainResponse(BaseModel):
    """The slots of one past slate, in position order."""

    request_id: str
    items: list[ExplainedSlot]


def new_request_id(ts: float) -> str:
    """``<ms since epoch, hex>-<random hex>``: unguessable, and says when to look it up."""
    return f"{round(ts * 1000):x}-{uuid.uuid4().hex}"


def request_time(request_id: str) -> float | None:
    """The time a :func:`new_request_id` id was made, or None for any other id."""
    stamp, sep, rest = request_id.partition("-")
    if not sep or not rest or not 0 < len(stamp) <= 12:
        return None
    try:
        return int(stamp, 16) / 1000
    except ValueError:
        return None


def remember(state: ServiceState, slate: Slate) -> None:
    """Keep ``slate``'s slots for ``explain``, dropping the least recent past RECENT_SLATES."""
    slots: list[dict[str, object]] = [
        {
            "position": item.position,
            "item_id": item.item_id,
            "channel": item.channel,
            "reasons": list(item.reasons),
            "is_ad": item.is_ad,
        }
        for item in slate.items
    ]
    with state.recent_lock:
        state.recent_slates[slate.request_id] = slots
        state.recent_slates.move_to_end(slate.request_id)
        while len(state.recent_slates) > RECENT_SLATES:
            state.recent_slates.popitem(last=False)


def from_event_log(state: ServiceState, request_id: str) -> list[dict[str, object]]:
    """The slots of ``request_id`` rebuilt from its logged impressions (empty: none found)."""
    ts = request_time(request_id)
    if ts is None:  # not one of ours: a full scan per hostile id is not worth it
        return []
    slots: list[dict[str, object]] = []
    # the impressions carry the request time; a second either side absorbs float rounding
    for event in state.stores.events.scan(ts - 1.0, ts + 1.0, types=[EventType.IMPRESSION]):
        if event.request_id != request_id or event.item_id is None:
            continue
        extra = event.extra or {}
        slots.append(
            {
                "position": event.position if event.position is not None else len(slots),
                "item_id": event.item_id,
                "channel": str(extra.get("channel", "")),
                "reasons": [str(r) for r in extra.get("reasons", [])],
                "is_ad": bool(extra.get("is_ad", event.ad_id is not None)),
            }
        )
    return sorted(slots, key=lambda slot: int(str(slot["position"])))


@router.get(
    "/recommend/{request_id}/explain",
    response_model=ExplainResponse,
    responses={
        404: {"model": ErrorResponse, "description": "no slate with this request id is known"}
    },
)
def explain(
    request_id: Annotated[str, Path(min_length=1, max_length=128)],
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.CLIENT, Role.ADMIN))],
) -> ExplainResponse:
    """Why each slot of the slate ``request_id`` was recommended."""
    with state.recent_lock:
        slots = state.recent_slates.get(request_id)
    if slots is None:  # an empty slate is remembered as [] but logs no impression
        slots = from_event_log(state, request_id) or None
    if slots is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no slate {request_id!r} is known")
    return ExplainResponse.model_validate({"request_id": request_id, "items": slots})
