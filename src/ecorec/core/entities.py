"""Catalog entities: the people and things a platform has.

Every entity keeps the fields that ecorec's own logic reads as typed attributes, and anything
dataset-specific (MovieLens' occupation, a zip code) in ``attrs`` so that no loader has to
widen the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CreatorStage(StrEnum):
    """Lifecycle stage of a creator; drives novice-creator recall and traffic support."""

    NOVICE = "novice"
    MID = "mid"
    HEAD = "head"


class BidType(StrEnum):
    """How an advertiser pays."""

    CPC = "cpc"
    CPM = "cpm"
    OCPM = "ocpm"
    OCPC = "ocpc"


@dataclass(frozen=True, slots=True)
class User:
    """A person using the platform.

    ``group`` is a sensitive attribute and ``region`` a region group, both kept only for
    fairness audits; ``activity`` is the expected sessions per day (synthetic platforms).
    """

    user_id: str
    created_at: float = 0.0
    segment: str | None = None
    region: str | None = None
    group: str | None = None
    activity: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Creator:
    """Someone who publishes items."""

    creator_id: str
    stage: CreatorStage = CreatorStage.NOVICE
    quality: float | None = None
    category: str | None = None
    output_rate: float | None = None
    created_at: float = 0.0
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Item:
    """A piece of content: a video, an article, a movie.

    ``category`` is the main category (used by filters, break-up rules and health metrics);
    ``tags`` the finer labels (MovieLens genres); ``duration`` in seconds.
    """

    item_id: str
    creator_id: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    quality: float | None = None
    duration: float | None = None
    created_at: float = 0.0
    deleted: bool = False
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Advertiser:
    """A buyer of ad slots, with a daily budget and a cost-per-action target."""

    advertiser_id: str
    name: str | None = None
    daily_budget: float = 0.0
    target_cpa: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Ad:
    """One creative of an advertiser.

    ``true_ctr`` / ``true_cvr`` exist only on synthetic platforms (the simulator's ground
    truth); ``landing_quality`` is the 0-1 landing-page experience score used in ad ranking.
    """

    ad_id: str
    advertiser_id: str
    bid_type: BidType = BidType.CPC
    bid: float = 0.0
    target_cpa: float | None = None
    category: str | None = None
    landing_quality: float | None = None
    true_ctr: float | None = None
    true_cvr: float | None = None
    active: bool = True
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CuratedPool:
    """Items chosen by operations, shown in a time window to target segments."""

    pool_id: str
    name: str
    item_ids: tuple[str, ...] = ()
    starts_at: float = 0.0
    ends_at: float | None = None
    segments: tuple[str, ...] = ()
    position_hint: int | None = None


#: Every entity type with its id attribute, in the order a loader writes them.
ENTITY_IDS: dict[type, str] = {
    User: "user_id",
    Creator: "creator_id",
    Item: "item_id",
    Advertiser: "advertiser_id",
    Ad: "ad_id",
    CuratedPool: "pool_id",
}
Entity = User | Creator | Item | Advertiser | Ad | CuratedPool


def entity_id(entity: Entity) -> str:
    """The id of any catalog entity."""
    return str(getattr(entity, ENTITY_IDS[type(entity)]))
