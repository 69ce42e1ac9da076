"""Request, candidates and slates: what flows between the stages of the Pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """A request for ``n`` recommendations for ``user_id`` in a ``scene`` (feed, detail, ...)."""

    user_id: str
    scene: str = "feed"
    n: int = 10
    context: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    ts: float = 0.0


@dataclass(slots=True)
class Candidate:
    """An item proposed by a recall channel and carried through ranking and re-ranking.

    ``channels`` keeps every channel that proposed the item (provenance, the first reason of
    "why recommended"); ``predictions`` holds the ranker's objective -> value outputs.
    """

    item_id: str
    score: float
    channel: str
    channels: list[str] = field(default_factory=list)
    predictions: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    is_ad: bool = False
    ad_id: str | None = None
    propensity: float | None = None

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [self.channel]


@dataclass(frozen=True, slots=True)
class SlateItem:
    """One slot of the slate a person sees, with the reasons it is there."""

    item_id: str
    position: int
    score: float
    channel: str
    reasons: list[str]
    is_ad: bool = False
    ad_id: str | None = None
    propensity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ids stay strings, absent optionals are dropped)."""
        out: dict[str, Any] = {
            "item_id": self.item_id,
            "position": self.position,
            "score": self.score,
            "channel": self.channel,
            "reasons": list(self.reasons),
            "is_ad": self.is_ad,
        }
        if self.ad_id is not None:
            out["ad_id"] = self.ad_id
        if self.propensity is not None:
            out["propensity"] = self.propensity
        return out


@dataclass(frozen=True, slots=True)
class Slate:
    """The answer to a :class:`Request`.

    ``degraded`` says a stage fell back (a missing model, a failing channel); ``stages`` lists
    what each stage did, for logs and "why recommended"; ``reason`` says why a slate is empty.
    """

    request_id: str
    items: list[SlateItem]
    degraded: bool = False
    stages: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"request_id", "items": [...], "degraded"}``.

        ``reason`` is added when the slate is empty (why nothing could be recommended).
        """
        out: dict[str, Any] = {
            "request_id": self.request_id,
            "items": [item.to_dict() for item in self.items],
            "degraded": self.degraded,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out
