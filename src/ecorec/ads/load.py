"""Ad-load caps: how many ads a slate may carry, and where.

Three rules, all hard: at most ``max_load`` of the slate's slots are ads, two ads have at least
``min_gap`` content items between them, and the first ``first_position`` slots are content.
The load itself follows the scenario: lower for users whose attention is worth protecting
(heavy, high-value, at risk of churning), higher in a promotion window, never above
``load_ceiling``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field, model_validator

from ecorec.core.component import ComponentConfig
from ecorec.core.entities import User


class Promotion(ComponentConfig):
    """A time window (UTC) in which the ad load of ``scenes`` (all when empty) is scaled."""

    starts_at: datetime
    ends_at: datetime
    multiplier: float = Field(default=1.5, gt=0.0)
    scenes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _order(self) -> Promotion:
        if self.ends_at <= self.starts_at:
            raise ValueError("a promotion must end after it starts")
        return self

    def covers(self, ts: float, scene: str) -> bool:
        in_scene = not self.scenes or scene in self.scenes
        return in_scene and self.starts_at.timestamp() <= ts < self.ends_at.timestamp()


class ScenarioConfig(ComponentConfig):
    """Per-user and per-moment multipliers of the ad load.

    Args:
        segments: user segment -> multiplier (e.g. ``heavy = 0.5``: heavy users see fewer ads).
        payer: multiplier for high-value users (``User.attrs["payer"]`` or segment ``payer``).
        churn_risk: multiplier for users at risk of churning.
        churn_threshold: ``User.attrs["churn_risk"]`` at or above this counts as at risk (as
            does the segment ``churn_risk``).
        promotions: windows with a higher (or lower) load.

    """

    segments: dict[str, float] = Field(default_factory=lambda: {"heavy": 0.5})
    payer: float = Field(default=0.5, ge=0.0)
    churn_risk: float = Field(default=0.5, ge=0.0)
    churn_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    promotions: tuple[Promotion, ...] = ()


def user_multiplier(config: ScenarioConfig, segment: str | None, user: User | None) -> float:
    """The product of the multipliers that apply to this user."""
    attrs = user.attrs if user is not None else {}
    multiplier = config.segments.get(segment, 1.0) if segment is not None else 1.0
    if attrs.get("payer") or segment == "payer":
        multiplier *= config.payer
    risk = attrs.get("churn_risk")
    at_risk = isinstance(risk, (int, float)) and risk >= config.churn_threshold
    if at_risk or segment == "churn_risk":
        multiplier *= config.churn_risk
    return multiplier


def max_ads(slots: int, load: float, min_gap: int, first_position: int) -> int:
    """Most ads a slate of ``slots`` can carry under the three rules."""
    if slots <= first_position or load <= 0:
        return 0
    by_spacing = (slots - 1 - first_position) // (min_gap + 1) + 1
    return max(min(by_spacing, math.floor(load * slots + 1e-9)), 0)


def ad_positions(
    n: int, content: int, ads: int, load: float, min_gap: int, first_position: int
) -> list[int]:
    """Positions (0-based) of the ads in a slate of at most ``n`` slots.

    ``content`` items and up to ``ads`` ads are available; the slate is ``min(n, content + k)``
    long for ``k`` ads, and ``k`` is the largest count for which every rule holds on that
    length. Ads go as early as the rules allow: ``first_position``, then every
    ``min_gap + 1`` slots.

    Example:
        >>> ad_positions(n=20, content=50, ads=9, load=0.2, min_gap=4, first_position=3)
        [3, 8, 13, 18]

    """
    for k in range(min(ads, n), 0, -1):
        length = min(n, content + k)
        if k <= max_ads(length, load, min_gap, first_position):
            return [first_position + j * (min_gap + 1) for j in range(k)]
    return []


def slate_obeys(
    is_ad: list[bool], load: float, min_gap: int, first_position: int
) -> tuple[bool, str]:
    """Whether a slate's ad flags obey the rules; the second value names the broken one."""
    positions = [p for p, ad in enumerate(is_ad) if ad]
    if len(positions) > math.floor(load * len(is_ad) + 1e-9):
        return False, "load"
    if positions and positions[0] < first_position:
        return False, "first_position"
    if any(b - a <= min_gap for a, b in zip(positions, positions[1:], strict=False)):
        return False, "min_gap"
    return True, ""


@dataclass(frozen=True, slots=True)
class LoadPolicy:
    """The ad load of one request: the scene's cap times the scenario, within the ceiling.

    Example:
        >>> policy = LoadPolicy(feed_max_load=0.2, scenario=ScenarioConfig())
        >>> policy.load("feed", "heavy", None, ts=0.0)
        0.1

    """

    feed_max_load: float = 0.2
    scene_max_load: Mapping[str, float] = field(default_factory=dict)
    default_max_load: float = 0.1
    load_ceiling: float = 0.3
    min_gap: int = 4
    first_position: int = 3
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)

    def base_load(self, scene: str) -> float:
        if scene == "feed":
            return self.feed_max_load
        return self.scene_max_load.get(scene, self.default_max_load)

    def load(self, scene: str, segment: str | None, user: User | None, ts: float) -> float:
        """The cap on the ad share of this request's slate."""
        load = self.base_load(scene) * user_multiplier(self.scenario, segment, user)
        for promotion in self.scenario.promotions:
            if promotion.covers(ts, scene):
                load *= promotion.multiplier
        return min(load, self.load_ceiling)

    def positions(self, n: int, content: int, ads: int, load: float) -> list[int]:
        """:func:`ad_positions` under this policy's spacing rules."""
        return ad_positions(n, content, ads, load, self.min_gap, self.first_position)
