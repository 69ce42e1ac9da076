"""``POST /v1/recommend``: one slate from the Pipeline, its impressions logged to the EventLog.

What each slot logs (channel, propensity, scene, reasons, bandit decisions, ad accounting) is
:func:`ecorec.slate_events.slate_events`, shared with the simulator; they are written in batches
off the request path (:mod:`ecorec.service.impressions`), to the EventLog and the nearline
stream. A failure to log them is counted but does not cost the user their feed.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status

from ecorec.core.contracts import Request
from ecorec.service.app import ServiceState, get_state
from ecorec.service.auth import Principal, Role, require
from ecorec.service.routes.explain import new_request_id, remember
from ecorec.service.schemas import RecommendRequest, RecommendResponse
from ecorec.slate_events import slate_events

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["recommend"])


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    responses={503: {"description": "the pipeline is not built (no trained model yet)"}},
)
def recommend(
    body: RecommendRequest,
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.CLIENT))],
) -> Response:
    """A slate of at most ``n`` items for ``user_id``, with why each one is there."""
    pipeline = state.pipeline  # read once: an activation may swap it meanwhile
    if pipeline is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, state.error or "not ready")
    now = time.time()
    started = time.perf_counter()
    context = dict(body.context)
    if state.deletions.is_deleted(body.user_id):
        # models trained before the erasure may still hold the user's vector: serve nothing
        # personal until the next retrain drops it
        context["personalized"] = False
    request = Request(body.user_id, body.scene, body.n, context, new_request_id(now), now)
    # past the wait budget (no turn held): the cheap slate now rather than the full one too late
    with state.pipeline_queue.turn() as full:
        slate = pipeline(request) if full else pipeline.light(request)
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
        served = slate_events(request, slate, pipeline)
    except Exception:  # the slate is still worth returning; the counter makes the loss visible
        log.exception("could not build the impressions of request %s", slate.request_id)
        state.metrics.impression_failures.inc(len(slate.items))
    else:
        if state.impressions is not None:
            state.impressions.put(served)
    body_out = RecommendResponse.model_validate(
        {**slate.to_dict(), "model_version": state.model_version}
    )
    # validated above; returned as JSON bytes, FastAPI's second validation and encoding of the
    # response model (the schema still documents it) are skipped
    return Response(body_out.model_dump_json(), media_type="application/json")
