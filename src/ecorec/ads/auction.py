"""eCPM per bid type, the dynamic floor, and the generalised second-price auction.

Every bid is turned into a *billing bid* ``b`` (money per billing unit: per click for CPC and
oCPC, per 1,000 impressions for CPM and oCPM) and a *factor* ``f`` (eCPM per unit of ``b``), so
that ``eCPM = b * f`` for every bid type:

| bid type | billing bid ``b`` | factor ``f`` | ``eCPM = b f`` |
|---|---|---|---|
| CPC | the CPC bid | ``pCTR * 1000 * q`` | CPC bid x pCTR x 1000 x q |
| CPM | the CPM bid | ``q`` | CPM bid x q |
| oCPC | ``target CPA * pCVR * adj`` | ``pCTR * 1000 * q`` | CPA x pCTR x pCVR x 1000 x adj x q |
| oCPM | ``target CPA * pCTR * pCVR * 1000 * adj`` | ``q`` | the same |

``q`` is the ad quality score (landing-page experience) and ``adj`` the oCPM/oCPC bid
adjustment of :mod:`ecorec.ads.pacing`. Optimised bids are billed like the plain bid type they
map to (oCPC per click, oCPM per impression), which is how the large platforms bill them.

GSP (Edelman, Ostrovsky and Schwarz 2007, with quality factors as in Varian 2007): bids ranked
by eCPM; the winner of slot ``s`` pays the least billing bid that keeps its rank, ``max(eCPM of
the next bid, floor) / f_s``. That is never above its own bid (the next eCPM and the floor are
both at most its own eCPM) and never below the reserve ``floor / f_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field

from ecorec.core.component import ComponentConfig
from ecorec.core.entities import BidType

#: Bid types billed per click; the others are billed per 1,000 impressions.
CLICK_BILLED = frozenset({BidType.CPC, BidType.OCPC})


@dataclass(frozen=True, slots=True)
class Bid:
    """One ad's entry in an auction.

    Attributes:
        ad_id, advertiser_id: who bids.
        bid_type: how the advertiser pays.
        bid: the billing bid (per click or per mille, see the module docstring).
        factor: eCPM per unit of ``bid`` (pCTR x 1000 x quality, or quality).
        pctr, pcvr, quality: the estimates behind ``factor``, kept for the accounting events.

    """

    ad_id: str
    advertiser_id: str
    bid_type: BidType
    bid: float
    factor: float
    pctr: float = 0.0
    pcvr: float = 0.0
    quality: float = 1.0

    @property
    def ecpm(self) -> float:
        """Expected revenue per 1,000 impressions, quality-adjusted: the ranking key."""
        return self.bid * self.factor

    @property
    def billing(self) -> str:
        """``"click"`` or ``"impression"``: the event the advertiser is charged on."""
        return "click" if self.bid_type in CLICK_BILLED else "impression"


@dataclass(frozen=True, slots=True)
class Charge:
    """The outcome of one slot: who won and what they pay.

    ``price`` is in the winner's billing unit (per click, or per 1,000 impressions); ``ecpm``
    is the winner's own eCPM; ``charged_ecpm`` the eCPM it pays (``price * factor``).
    """

    slot: int
    bid: Bid
    price: float
    reserve: float
    charged_ecpm: float

    @property
    def max_cost(self) -> float:
        """The most this impression can cost: a click's price, or a thousandth of the CPM."""
        return self.price if self.bid.billing == "click" else self.price / 1000.0

    @property
    def expected_cost(self) -> float:
        """Expected spend of this impression: price x pCTR when billed per click."""
        return self.price * self.bid.pctr if self.bid.billing == "click" else self.price / 1000.0


class QualityConfig(ComponentConfig):
    """The ad quality score ``q = min_quality + (1 - min_quality) * landing_quality``.

    Args:
        min_quality: the score of the worst landing page; 1 ignores landing quality.
        missing: the landing quality assumed when the catalog has none.

    """

    min_quality: float = Field(default=0.5, gt=0.0, le=1.0)
    missing: float = Field(default=0.5, ge=0.0, le=1.0)

    def score(self, landing_quality: float | None) -> float:
        """The quality factor for an ad with ``landing_quality`` in [0, 1]."""
        lq = self.missing if landing_quality is None else min(max(landing_quality, 0.0), 1.0)
        return self.min_quality + (1.0 - self.min_quality) * lq


def make_bid(
    ad_id: str,
    advertiser_id: str,
    bid_type: BidType,
    amount: float,
    pctr: float,
    pcvr: float,
    quality: float,
    adjustment: float = 1.0,
) -> Bid:
    """The :class:`Bid` of one ad: ``amount`` is the CPC/CPM bid, or the target CPA for oCPx.

    Example:
        >>> make_bid("a", "x", BidType.CPC, 0.5, pctr=0.02, pcvr=0.1, quality=1.0).ecpm
        10.0

    """
    click_factor = pctr * 1000.0 * quality
    if bid_type is BidType.CPC:
        return Bid(ad_id, advertiser_id, bid_type, amount, click_factor, pctr, pcvr, quality)
    if bid_type is BidType.CPM:
        return Bid(ad_id, advertiser_id, bid_type, amount, quality, pctr, pcvr, quality)
    if bid_type is BidType.OCPC:
        billing = amount * pcvr * adjustment
        return Bid(ad_id, advertiser_id, bid_type, billing, click_factor, pctr, pcvr, quality)
    billing = amount * pctr * pcvr * 1000.0 * adjustment
    return Bid(ad_id, advertiser_id, bid_type, billing, quality, pctr, pcvr, quality)


class FloorConfig(ComponentConfig):
    """The dynamic reserve: ``base * segments[user segment] * scenes[scene]`` in eCPM.

    Args:
        base: reserve eCPM (money per 1,000 impressions) before the multipliers.
        segments: user value segment -> multiplier (absent: 1); a high-value user's attention
            is worth more, so their floor is higher.
        scenes: scene -> multiplier (absent: 1).

    """

    base: float = Field(default=1.0, ge=0.0)
    segments: dict[str, float] = Field(default_factory=dict)
    scenes: dict[str, float] = Field(default_factory=dict)

    def floor(self, segment: str | None, scene: str) -> float:
        """The reserve eCPM for a user of ``segment`` in ``scene``."""
        by_segment = self.segments.get(segment, 1.0) if segment is not None else 1.0
        return self.base * by_segment * self.scenes.get(scene, 1.0)


class GSPAuction:
    """Generalised second-price auction with a reserve, one winner per slot.

    Args:
        one_per_advertiser: keep only each advertiser's best bid, so one advertiser cannot
            take several slots of one slate (nor set its own second price).

    Example:
        >>> bids = [make_bid(a, a, BidType.CPM, b, 0.0, 0.0, 1.0) for a, b in [("x", 9), ("y", 5)]]
        >>> [(c.bid.ad_id, c.price) for c in GSPAuction().run(bids, slots=2, floor=2.0)]
        [('x', 5.0), ('y', 2.0)]

    """

    def __init__(self, one_per_advertiser: bool = True) -> None:
        self.one_per_advertiser = one_per_advertiser

    def rank(self, bids: Sequence[Bid], floor: float) -> list[Bid]:
        """Eligible bids (eCPM at least ``floor``, positive), best eCPM first, ties by ad id."""
        eligible = [
            b
            for b in bids
            if b.bid > 0 and b.factor > 0 and math.isfinite(b.ecpm) and b.ecpm >= floor
        ]
        eligible.sort(key=lambda b: (-b.ecpm, b.ad_id))
        if not self.one_per_advertiser:
            return eligible
        seen: set[str] = set()
        kept = []
        for b in eligible:
            if b.advertiser_id not in seen:
                seen.add(b.advertiser_id)
                kept.append(b)
        return kept

    def run(self, bids: Sequence[Bid], slots: int, floor: float) -> list[Charge]:
        """Winners of the first ``slots`` slots (fewer when few bids clear the floor)."""
        ranked = self.rank(bids, max(floor, 0.0))
        charges = []
        for s, winner in enumerate(ranked[:slots]):
            next_ecpm = ranked[s + 1].ecpm if s + 1 < len(ranked) else 0.0
            reserve = floor / winner.factor
            # the least bid that keeps rank s, clipped: float rounding must never bill
            # more than the bid
            price = min(max(next_ecpm, floor) / winner.factor, winner.bid)
            charges.append(Charge(s, winner, price, reserve, price * winner.factor))
        return charges
