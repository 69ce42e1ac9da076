"""The one event shape every part of ecorec reads and writes.

Events are plain frozen dataclasses rather than pydantic models because the generator and the
EventLog handle hundreds of thousands per second; validation happens once, at the edges
(ingest, the HTTP API) through :func:`validate_event`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event type of DESIGN.md §3; ``rating`` carries explicit ratings of public datasets."""

    IMPRESSION = "impression"
    CLICK = "click"
    PLAY = "play"
    LIKE = "like"
    SHARE = "share"
    COMMENT = "comment"
    FOLLOW = "follow"
    NOT_INTERESTED = "not_interested"
    BLOCK_CREATOR = "block_creator"
    CONVERSION = "conversion"
    TIP = "tip"
    SUBSCRIBE = "subscribe"
    SURVEY = "survey"
    FLAG = "flag"
    RATING = "rating"


#: Types that say the user liked what they saw: used as implicit positives by recall training.
POSITIVE_TYPES = frozenset(
    {
        EventType.CLICK,
        EventType.PLAY,
        EventType.LIKE,
        EventType.SHARE,
        EventType.COMMENT,
        EventType.RATING,
        EventType.CONVERSION,
    }
)
#: Types that say the user did not want what they saw.
NEGATIVE_TYPES = frozenset({EventType.NOT_INTERESTED, EventType.BLOCK_CREATOR, EventType.FLAG})
#: Types whose ``value`` is money (kept to the cent).
MONEY_TYPES = frozenset({EventType.CONVERSION, EventType.TIP, EventType.SUBSCRIBE})

NEEDS_ITEM = frozenset(
    {
        EventType.PLAY,
        EventType.LIKE,
        EventType.SHARE,
        EventType.COMMENT,
        EventType.NOT_INTERESTED,
        EventType.FLAG,
        EventType.RATING,
    }
)
NEEDS_CREATOR = frozenset({EventType.BLOCK_CREATOR, EventType.TIP, EventType.SUBSCRIBE})
NEEDS_VALUE = frozenset({EventType.PLAY, EventType.SURVEY, EventType.RATING} | MONEY_TYPES)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened: a user saw, clicked, watched, rated, paid...

    Args:
        event_id: globally unique; re-sending the same id stores nothing twice.
        ts: seconds since the Unix epoch, UTC.
        user_id: who acted.
        type: an :class:`EventType` value.
        item_id, ad_id, creator_id: what the event is about (which one depends on ``type``).
        request_id: the recommendation request that showed the item, if any.
        position: slot position for impressions and clicks.
        value: watch seconds (``play``), money (``conversion``/``tip``/``subscribe``),
            0-10 (``survey``), the rating (``rating``).
        extra: type-specific details (``channel``, ``propensity``, ``variant``, ``text``,
            ``order_id``), stored as JSON.

    Example:
        >>> Event("e1", 1.7e9, "u1", EventType.CLICK, item_id="i9").type
        <EventType.CLICK: 'click'>

    """

    event_id: str
    ts: float
    user_id: str
    type: EventType
    item_id: str | None = None
    ad_id: str | None = None
    creator_id: str | None = None
    request_id: str | None = None
    position: int | None = None
    value: float | None = None
    extra: dict[str, Any] | None = field(default=None, compare=False)


class EventValidationError(ValueError):
    """An event that breaks the contract; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def validate_event(event: Event) -> Event:
    """Check one event against the per-type contract and return it.

    Raises:
        EventValidationError: naming the first field that is wrong.

    """
    if not event.event_id or not isinstance(event.event_id, str):
        raise EventValidationError("event_id must be a non-empty string", "event_id")
    if not event.user_id or not isinstance(event.user_id, str):
        raise EventValidationError("user_id must be a non-empty string", "user_id")
    try:
        kind = EventType(event.type)
    except ValueError:
        allowed = ", ".join(t.value for t in EventType)
        raise EventValidationError(
            f"unknown event type {event.type!r} (one of {allowed})", "type"
        ) from None
    if not isinstance(event.ts, (int, float)) or not math.isfinite(event.ts) or event.ts < 0:
        raise EventValidationError(f"ts must be seconds since the epoch, got {event.ts!r}", "ts")
    if kind in NEEDS_ITEM and not event.item_id:
        raise EventValidationError(f"a {kind.value} event needs item_id", "item_id")
    if kind in NEEDS_CREATOR and not event.creator_id:
        raise EventValidationError(f"a {kind.value} event needs creator_id", "creator_id")
    if kind in (EventType.IMPRESSION, EventType.CLICK, EventType.CONVERSION) and not (
        event.item_id or event.ad_id
    ):
        raise EventValidationError(f"a {kind.value} event needs item_id or ad_id", "item_id")
    if kind in NEEDS_VALUE and event.value is None:
        raise EventValidationError(f"a {kind.value} event needs value", "value")
    if event.value is not None:
        if not isinstance(event.value, (int, float)) or not math.isfinite(event.value):
            raise EventValidationError(
                f"value must be a finite number, got {event.value!r}", "value"
            )
        if kind in MONEY_TYPES and event.value < 0:
            raise EventValidationError("money value must not be negative", "value")
        if kind is EventType.SURVEY and not 0 <= event.value <= 10:
            raise EventValidationError("survey value must be 0-10", "value")
        if kind is EventType.PLAY and event.value < 0:
            raise EventValidationError("play seconds must not be negative", "value")
    if event.position is not None and (not isinstance(event.position, int) or event.position < 0):
        raise EventValidationError("position must be a non-negative integer", "position")
    return event if kind is event.type else replace(event, type=kind)
