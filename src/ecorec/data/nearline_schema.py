"""Tables, config and result types of :mod:`ecorec.data.nearline` (kept apart for size).

Table names carry a configurable prefix so several stats stores (or tests) can share one
database.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ecorec.core.events import Event, EventType

#: Engagement weights of the trending score; impressions carry no weight (exposure is not
#: interest) and negative feedback is left to the filters rather than subtracted here.
DEFAULT_TRENDING_WEIGHTS: dict[str, float] = {
    "click": 1.0,
    "play": 1.0,
    "like": 2.0,
    "comment": 2.0,
    "share": 3.0,
    "conversion": 3.0,
}

#: ``(policy, arm, reward)`` of one bandit outcome: ``0.0`` for a new decision (a pull, counted
#: as a failure until a click revises it), ``1.0`` for a click credited to an earlier decision.
BanditOutcome = tuple[str, str, float]
CreatorOf = Callable[[str], str | None]


class NearlineConfig(BaseModel):
    """How the nearline statistics are computed.

    Args:
        half_life_s: trending half-life in seconds.
        trending_weights: weight per event type (types not listed add nothing).
        reward_types: event types that reward a bandit decision.
        table_prefix: prefix of every table name (lets tests share one database).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    half_life_s: float = Field(default=6 * 3600.0, gt=0)
    trending_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TRENDING_WEIGHTS)
    )
    reward_types: tuple[str, ...] = ("click",)
    table_prefix: str = Field(default="nearline_", pattern=r"^[a-z][a-z0-9_]{0,40}$")

    @field_validator("trending_weights")
    @classmethod
    def _check_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        for kind, weight in weights.items():
            EventType(kind)  # ValueError names the unknown type
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"trending weight of {kind!r} must be finite and >= 0")
        return weights

    @field_validator("reward_types")
    @classmethod
    def _check_rewards(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(EventType(kind).value for kind in kinds)


@dataclass(frozen=True)
class ArmTally:
    """Pulls and rewards of one arm of one policy (``policy`` is "" when the log named none)."""

    policy: str
    arm: str
    pulls: int
    rewards: int


@dataclass(frozen=True)
class BatchResult:
    """What one :meth:`NearlineStats.apply` changed: new events and new bandit outcomes.

    ``outcomes`` are in the order they were counted, so a decision always comes before the
    reward that revises it: a listener replaying them keeps a live policy exactly in step with
    :meth:`NearlineStats.bandit_tallies`.
    """

    new: int
    outcomes: list[BanditOutcome]


def build_tables(metadata: sa.MetaData, prefix: str) -> dict[str, sa.Table]:
    """Declare the nearline tables on ``metadata``, each name starting with ``prefix``.

    Ids are bounded strings so PostgreSQL can index them; ``decisions`` and
    ``pending_rewards`` are the only tables with user ids (what erasure must reach).
    """
    key = sa.String(200)

    def counter() -> list[sa.Column[Any]]:
        return [
            sa.Column("type", sa.String(32), primary_key=True),
            sa.Column("n", sa.BigInteger, nullable=False),
        ]

    return {
        "processed": sa.Table(
            f"{prefix}processed",
            metadata,
            sa.Column("event_id", key, primary_key=True),
            sa.Column("processed_at", sa.Float, nullable=False, index=True),
        ),
        "items": sa.Table(
            f"{prefix}item_stats",
            metadata,
            sa.Column("item_id", key, primary_key=True),
            *counter(),
        ),
        "creators": sa.Table(
            f"{prefix}creator_stats",
            metadata,
            sa.Column("creator_id", key, primary_key=True),
            *counter(),
        ),
        "trending": sa.Table(
            f"{prefix}trending",
            metadata,
            sa.Column("item_id", key, primary_key=True),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("rank_key", sa.Float, nullable=False, index=True),
        ),
        "decisions": sa.Table(
            f"{prefix}decisions",
            metadata,
            sa.Column("request_id", key, primary_key=True),
            sa.Column("user_id", key, primary_key=True, index=True),
            sa.Column("item_id", key, primary_key=True),
            sa.Column("policy", key, nullable=False),
            sa.Column("arm", key, nullable=False),
            sa.Column("recorded_at", sa.Float, nullable=False, index=True),
            sa.Column("rewarded", sa.Boolean, nullable=False),
        ),
        "pending": sa.Table(
            f"{prefix}pending_rewards",
            metadata,
            sa.Column("request_id", key, primary_key=True),
            sa.Column("user_id", key, primary_key=True, index=True),
            sa.Column("item_id", key, primary_key=True),
            sa.Column("recorded_at", sa.Float, nullable=False, index=True),
        ),
        "bandits": sa.Table(
            f"{prefix}bandit_tallies",
            metadata,
            sa.Column("policy", key, primary_key=True),
            sa.Column("arm", key, primary_key=True),
            sa.Column("pulls", sa.BigInteger, nullable=False),
            sa.Column("rewards", sa.BigInteger, nullable=False),
        ),
    }


def decision_of(event: Event) -> tuple[str, str] | None:
    """``(policy, arm)`` when ``event`` is a bandit's impression with a full reward key."""
    extra = event.extra or {}
    if event.type != EventType.IMPRESSION or ("arm" not in extra and "policy" not in extra):
        return None
    if not event.request_id or not event.item_id:
        return None  # no key a click could match: not a countable decision
    return str(extra.get("policy") or ""), str(extra.get("arm") or event.item_id)
