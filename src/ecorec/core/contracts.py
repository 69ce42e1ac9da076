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


@dataclass(slots=True, init=False)
class Candidate:
    """An item proposed by a recall channel and carried through ranking and re-ranking.

    ``channels`` keeps every channel that proposed the item (provenance, the first reason of
    "why recommended"; ``[channel]`` when not given); ``predictions`` holds the ranker's
    objective -> value outputs.

    The constructor is written out rather than generated: a request makes ~1,000 candidates,
    and the generated one (default factories, then ``__post_init__``) cost a third more.
    """

    item_id: str
    score: float
    channel: str
    channels: list[str]
    predictions: dict[str, float]
    reasons: list[str]
    is_ad: bool
    ad_id: str | None
    propensity: float | None

    def __init__(
        self,
        item_id: str,
        score: float,
        channel: str,
        channels: list[str] | None = None,
        predictions: dict[str, float] | None = None,
        reasons: list[str] | None = None,
        is_ad: bool = False,
        ad_id: str | None = None,
        propensity: float | None = None,
    ) -> None:
        self.item_id = item_id
        self.score = score
        self.channel = channel
        self.channels = channels if channels else [channel]
        self.predictions = {} if predictions is None else predictions
        self.reasons = [] if reasons is None else reasons
        self.is_ad = is_ad
        self.ad_id = ad_id
        self.propensity = propensity


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
