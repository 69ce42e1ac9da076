"""``POST /v1/events``: the real-time feedback loop's entry point.

A batch is checked as a whole (422 naming every bad event, nothing written), appended durably
before the 2xx, and folded into the users' profiles before the response, so a not-interested
item or a blocked creator is gone from the very next recommendation. Re-sending the same
``event_id``s stores nothing twice and moves no profile twice: ids already in the log are found
first and left out of the profile update. Events of erased users are dropped (counted, not
stored), so late events cannot bring an erased user back.

Then the batch goes to the nearline stream through the durable outbox — all of it, duplicates
included: a client retries when a crash cost it the first answer, and that retry is the only
chance to publish what the crash left unpublished (the consumer ignores ids it has applied).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse

from ecorec.core.events import Event, EventValidationError, validate_event
from ecorec.data.profiles.delta import deltas_from_events
from ecorec.service.app import ServiceState, get_state
from ecorec.service.auth import Principal, Role, require
from ecorec.service.privacy import reject_deleted
from ecorec.service.schemas import (
    ErrorResponse,
    EventBatch,
    EventIn,
    EventProblem,
    EventsRejected,
    EventsResponse,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["events"])


def check_batch(batch: Sequence[EventIn]) -> tuple[list[Event], list[EventProblem]]:
    """Validate every event; return the events, or every problem found."""
    good: list[Event] = []
    problems: list[EventProblem] = []
    for index, raw in enumerate(batch):
        event = Event(**raw.model_dump())
        try:
            good.append(validate_event(event))
        except EventValidationError as exc:
            problems.append(
                EventProblem(index=index, event_id=raw.event_id, field=exc.field, message=str(exc))
            )
    return good, problems


def _unique(events: Sequence[Event]) -> list[Event]:
    seen: set[str] = set()
    out = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


@router.post(
    "/events",
    response_model=EventsResponse,
    responses={
        422: {
            "model": EventsRejected,
            "description": "the batch was rejected; every bad event is named",
        },
        503: {
            "model": ErrorResponse,
            "description": "stored, but not queued for the nearline stream; retry",
        },
    },
)
def post_events(
    body: EventBatch,
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.CLIENT))],
) -> EventsResponse | JSONResponse:
    """Store a batch of feedback events and update the users' profiles."""
    events, problems = check_batch(body.events)
    if problems:
        return JSONResponse(
            {"detail": [p.model_dump() for p in problems]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    events, dropped = reject_deleted(_unique(events), state.deletions)
    with state.ingest_lock:
        known = state.stores.events.stored(e.event_id for e in events)
        fresh = [e for e in events if e.event_id not in known]
        stored = state.stores.events.append(fresh) if fresh else 0
        for user_id, delta in deltas_from_events(fresh, state.lookup).items():
            state.stores.profiles.apply(user_id, delta)
    if state.nearline is not None:
        try:
            state.nearline.publish(events)
        except Exception as exc:  # the outbox's disk; the retry is idempotent at every stage
            log.exception("could not queue %d events for the nearline stream", len(events))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "events stored, but not queued for the nearline stream: send them again",
            ) from exc
    degraded = state.nearline is not None and state.nearline.degraded
    if degraded:
        state.metrics.fallbacks.labels("stream:unavailable").inc()
    for event in events:
        outcome = "duplicate" if event.event_id in known else "stored"
        state.metrics.count_event(str(event.type), outcome)
    for event in dropped:
        state.metrics.count_event(str(event.type), "erased_user")
    return EventsResponse(
        received=len(body.events),
        stored=stored,
        duplicates=len(body.events) - stored - len(dropped),
        dropped=len(dropped),
        degraded=degraded,
    )
