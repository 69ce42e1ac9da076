"""Request and response bodies of the HTTP API.

The limits are part of the schema (and so of the OpenAPI contract): unknown fields are
rejected, ``n`` is at most 200, strings and batches are bounded, and values are not coerced
(``"5"`` is not an ``n``, ``0`` is not a ``false``), so a hostile body is a 422 before any store
is touched and the server accepts exactly what the spec describes. Per-type event rules (a
``play`` needs ``value``...) stay in :func:`ecorec.core.events.validate_event`, the one place
every entry point shares.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

#: Most slots one recommendation may ask for.
MAX_N = 200
#: Most events one ``POST /v1/events`` may carry.
MAX_BATCH = 1000

Id = Annotated[str, Field(min_length=1, max_length=128)]
Scalar = str | int | float | bool | None
#: type-specific details of an event (``text``, ``order_id``...), bounded in size
Extra = Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=32)]


class Body(BaseModel):
    """Every request body: unknown fields are an error, not silently dropped.

    Strict: a JSON value of another type is refused rather than converted, so what the server
    accepts is what the OpenAPI schema says (an integer is still a valid float).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class RecommendRequest(Body):
    """``POST /v1/recommend``: ``n`` items for ``user_id`` in ``scene``."""

    user_id: Id
    scene: Annotated[str, Field(min_length=1, max_length=64)] = "feed"
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 10
    context: Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=32)] = (
        Field(default_factory=dict)
    )


class SlotOut(BaseModel):
    """One slot of a slate."""

    item_id: str
    position: int
    score: float
    channel: str
    reasons: list[str]
    is_ad: bool
    ad_id: str | None = None
    propensity: float | None = None


class RecommendResponse(BaseModel):
    """A slate, and the ranker version that produced it (null: no trained ranker)."""

    request_id: str
    items: list[SlotOut]
    degraded: bool
    reason: str | None = None
    model_version: str | None = None


class EventIn(Body):
    """One feedback event (see :class:`ecorec.core.events.Event` for the fields' meaning)."""

    event_id: Id
    ts: Annotated[float, Field(ge=0)]
    user_id: Id
    type: Annotated[str, Field(min_length=1, max_length=32)]
    item_id: Id | None = None
    ad_id: Id | None = None
    creator_id: Id | None = None
    request_id: Id | None = None
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    value: float | None = None
    extra: Extra | None = None


class EventBatch(Body):
    """``POST /v1/events``: validated as a whole, stored all-or-nothing."""

    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


class EventsResponse(BaseModel):
    """How many events arrived, were new, were already stored, or were of erased users.

    ``degraded`` is true when the nearline stream could not be reached at its last attempt:
    the events are stored all the same and wait in the local outbox until it can.
    """

    received: int
    stored: int
    duplicates: int
    dropped: int = 0
    degraded: bool = False


class EventProblem(BaseModel):
    """One bad event of a rejected batch."""

    index: int
    event_id: str
    field: str | None
    message: str


class ConsentRequest(Body):
    """``PUT /v1/users/{user_id}/consent``: the flags to set; absent flags are unchanged."""

    personalization: bool | None = None
    ads_personalization: bool | None = None
    training: bool | None = None


class ConsentResponse(BaseModel):
    """The user's consent flags after the change (a flag never set counts as allowed)."""

    user_id: str
    consent: dict[str, bool]


class ErrorResponse(BaseModel):
    """Any refusal the service itself words: 401, 403, 404, 409, 413, 429, 503."""

    detail: str


class FieldError(BaseModel):
    """One problem with the request as FastAPI reports it (``loc`` is the path to the value)."""

    loc: list[str | int]
    msg: str
    type: str


class RequestRejected(BaseModel):
    """A 422: the request's own problems (a list), or one the route words itself (a string)."""

    detail: str | list[FieldError]


class EventsRejected(BaseModel):
    """A 422 of ``POST /v1/events``: the body's shape (FastAPI) or its events' rules, all listed."""

    detail: list[FieldError] | list[EventProblem]
