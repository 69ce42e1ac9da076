"""The ads stage's configuration and its per-request decision record.

Apart from :mod:`.reranker` so that the stage's module stays about the request path; both names
are also importable from :mod:`ecorec.ads` and, as before, from :mod:`.reranker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from ecorec.ads.auction import Charge, FloorConfig, QualityConfig
from ecorec.ads.estimates import EstimatesConfig
from ecorec.ads.load import ScenarioConfig
from ecorec.ads.pacing import BidAdjustConfig, PacingConfig
from ecorec.core.component import ComponentConfig


class AdsConfig(ComponentConfig):
    """Parameters of :class:`AdsReranker` (``[pipeline.rerank] ads = {...}``).

    Args:
        feed_max_load: most ad share of a feed slate.
        min_gap: fewest content items between two ads.
        first_position: the first ``first_position`` slots are content.
        scene_max_load: ad share cap of other scenes; ``default_max_load`` for unlisted ones.
        load_ceiling: the cap no scenario multiplier can lift the load above.
        scenario, floor, quality, estimates, pacing, bid_adjust: see their classes.
        scorer, esmm: ``"esmm"`` also serves an ESMM (:mod:`.esmm_scorer`; ``esmm``: its keys).
        one_per_advertiser: at most one ad of an advertiser per slate.
        interest_categories: the user's top interest categories used for targeting.
        max_pending: requests whose charges are kept for accounting (oldest dropped).
        seed: seeds the per-request pacing draws.

    """

    feed_max_load: float = Field(default=0.2, ge=0.0, le=1.0)
    min_gap: NonNegativeInt = 4
    first_position: NonNegativeInt = 3
    scene_max_load: dict[str, float] = Field(default_factory=lambda: {"detail": 0.1})
    default_max_load: float = Field(default=0.1, ge=0.0, le=1.0)
    load_ceiling: float = Field(default=0.3, ge=0.0, le=1.0)
    scenario: ScenarioConfig = Field(default_factory=ScenarioConfig)
    floor: FloorConfig = Field(default_factory=FloorConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    estimates: EstimatesConfig = Field(default_factory=EstimatesConfig)
    pacing: PacingConfig = Field(default_factory=PacingConfig)
    bid_adjust: BidAdjustConfig = Field(default_factory=BidAdjustConfig)
    scorer: Literal["calibrated", "esmm"] = "calibrated"
    esmm: dict[str, Any] = Field(default_factory=dict)
    one_per_advertiser: bool = True
    interest_categories: PositiveInt = 3
    max_pending: PositiveInt = 10_000
    seed: int = 0


@dataclass
class AdDecision:
    """What the ads stage did for one request: the slots it filled and why it filled no more."""

    positions: list[int] = field(default_factory=list)
    charges: dict[str, Charge] = field(default_factory=dict)
    pass_rates: dict[str, float] = field(default_factory=dict)
    clicked: set[str] = field(default_factory=set)
    reason: str = ""
    load: float = 0.0
    floor: float = 0.0
