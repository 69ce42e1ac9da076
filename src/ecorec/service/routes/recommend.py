"""``POST /v1/recommend``: one slate from the Pipeline, its impressions logged to the EventLog.

Impressions are what off-policy evaluation and CTR training learn from, so each slot is logged
with its request, position, recall channel, propensity and scene. A failure to log them is
counted but does not cost the user their feed.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from ecorec.core.contracts import Request, Slate
from ecorec.core.events import Event, EventType
from ecorec.service.app import ServiceState, get_state
from ecorec.service.auth import Principal, Role, require
from ecorec.service.routes.explain import new_request_id, remember
from ecorec.service.schemas import RecommendRequest, RecommendResponse

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["recommend"])


def impressions(slate: Slate, user_id: str, scene: str, ts: float) -> list[Event]:
    """One impression per slot; ids derive from the request, so a retry stores nothing twice."""
    return [
        Event(
            event_id=f"{slate.request_id}:{slot.position}",
            ts=ts,
            user_id=user_id,
            type=EventType.IMPRESSION,
            item_id=slot.item_id,
            ad_id=slot.ad_id,
            request_id=slate.request_id,
            position=slot.position,
            # reasons too, so ``explain`` still answers after a restart
            extra={
                "channel": slot.channel,
                "propensity": slot.propensity,
                "scene": scene,
                "reasons": list(slot.reasons),
                "is_ad": slot.is_ad,
            },
        )
        for slot in slate.items
    ]


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    responses={503: {"description": "the pipeline is not built (no trained model yet)"}},
)
def recommend(
    body: RecommendRequest,
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.CLIENT))],
) -> RecommendResponse:
    """A slate of at most ``n`` items for ``user_id``, with why each one is there."""
    if state.pipeline is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, state.error or "not ready")
    now = time.time()
    started = time.perf_counter()
    context = dict(body.context)
    if state.deletions.is_deleted(body.user_id):
        # models trained before the erasure may still hold the user's vector: serve nothing
        # personal until the next retrain drops it
        context["personalized"] = False
    request = Request(body.user_id, body.scene, body.n, context, new_request_id(now), now)
    slate = state.pipeline(request)
    state.metrics.stage_latency.observe(time.perf_counter() - started)
    # each fallback the pipeline took (rank:timeout, recall:empty, ...): names from the
    # configured stages only, so the label set stays small
    for fallback in slate.stages.get("fallbacks", []):
        state.metrics.fallbacks.labels(fallback).inc()
    if slate.stages.get("failed"):
        state.metrics.fallbacks.labels("channel_failed").inc()
    if not slate.items:
        state.metrics.fallbacks.labels("empty_slate").inc()
    remember(state, slate)
    try:
        state.stores.events.append(impressions(slate, body.user_id, body.scene, now))
    except Exception:  # the slate is still worth returning; the counter makes the loss visible
        log.exception("could not log impressions of request %s", slate.request_id)
        state.metrics.impression_failures.inc()
    return RecommendResponse.model_validate(
        {**slate.to_dict(), "model_version": state.model_version}
    )
