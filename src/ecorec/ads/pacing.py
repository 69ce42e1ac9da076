"""Budget pacing, the spend ledger, and the oCPM/oCPC bid-adjustment controller.

Pacing is probabilistic throttling against the day's traffic curve: by time ``t`` an advertiser
may have spent ``budget * share(t)``, ``share`` being the fraction of the day's traffic that
has arrived by ``t``. An advertiser on or below that line takes part in every auction; one
ahead of it by a fraction ``x`` of its budget takes part with probability
``1 - x / band``, and not at all ``band`` ahead. So spend follows the traffic curve, at most
``band * budget`` (plus one charge) ahead of it, and an advertiser with a small budget still
reaches the evening audience. The ledger adds the hard rule: a charge never takes spend past
the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from ecorec.core.component import ComponentConfig
from ecorec.core.contracts import Request
from ecorec.core.events import Event, EventType

if TYPE_CHECKING:
    from ecorec.ads.auction import Charge

DAY = 86_400.0
#: Money is kept in micro-units: a CPM price per impression is a fraction of a cent.
MICRO = Decimal("0.000001")


def money(value: float | Decimal | str) -> Decimal:
    """``value`` as a :class:`Decimal` rounded to micro-units."""
    return Decimal(str(value)).quantize(MICRO)


def utc_day(ts: float) -> int:
    """Days since the epoch (UTC) of ``ts``: the ledger's budget period."""
    return int(ts // DAY)


class PacingConfig(ComponentConfig):
    """Parameters of :class:`BudgetPacer`.

    Args:
        hourly_traffic: 24 relative request volumes (UTC hours); uniform when empty.
        band: how far ahead of the curve (a fraction of the budget) throttling reaches zero.
        enabled: off, an advertiser bids until its budget is spent (the control arm).

    """

    hourly_traffic: tuple[float, ...] = ()
    band: float = Field(default=0.05, gt=0.0, le=1.0)
    enabled: bool = True

    @field_validator("hourly_traffic")
    @classmethod
    def _hours(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if value and (len(value) != 24 or min(value) < 0 or sum(value) <= 0):
            raise ValueError("hourly_traffic needs 24 non-negative values with a positive sum")
        return value


@dataclass
class SpendLedger:
    """Spend per advertiser per UTC day, in memory; rebuilt from accounting events on restart.

    ``charge`` bills at most what is left of the budget: the part of a charge past the budget
    is not billed (counted in ``forgiven``), so spend never exceeds the budget even when a
    click arrives after the budget ran out.
    """

    spent: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    forgiven: Decimal = Decimal(0)

    def spend(self, advertiser_id: str, day: int) -> Decimal:
        return self.spent.get((advertiser_id, day), Decimal(0))

    def remaining(self, advertiser_id: str, day: int, budget: float) -> Decimal:
        return max(money(budget) - self.spend(advertiser_id, day), Decimal(0))

    def charge(self, advertiser_id: str, day: int, amount: Decimal, budget: float) -> Decimal:
        """Bill ``amount`` (capped at the remaining budget); return what was billed."""
        billed = min(money(amount), self.remaining(advertiser_id, day, budget))
        self.forgiven += money(amount) - billed
        if billed > 0:
            key = (advertiser_id, day)
            self.spent[key] = self.spend(advertiser_id, day) + billed
        return billed

    def rebuild(self, events: Iterable[Event], budgets: dict[str, float]) -> None:
        """Replay ad impressions and clicks logged by ``AdsReranker.accounting_events``.

        Impression-billed ads carry their ``cost`` on the impression; a click on a
        click-billed ad costs the impression's ``charged_price``, once per request and ad.
        """
        per_click: dict[tuple[str, str], tuple[str, Decimal]] = {}
        clicks: list[Event] = []
        for event in sorted(events, key=lambda e: e.ts):
            extra = event.extra or {}
            if event.ad_id is None:
                continue
            if event.type == EventType.IMPRESSION and "advertiser_id" in extra:
                advertiser = str(extra["advertiser_id"])
                budget = budgets.get(advertiser, 0.0)
                if extra.get("billing") == "click":
                    key = (event.request_id or "", event.ad_id)
                    per_click[key] = (advertiser, money(extra["charged_price"]))
                else:
                    self.charge(advertiser, utc_day(event.ts), money(extra["cost"]), budget)
            elif event.type == EventType.CLICK:
                clicks.append(event)
        for click in clicks:
            found = per_click.pop((click.request_id or "", click.ad_id or ""), None)
            if found is not None:
                advertiser, price = found
                self.charge(advertiser, utc_day(click.ts), price, budgets.get(advertiser, 0.0))


def impression_event(
    request: Request, position: int, propensity: float | None, charge: Charge
) -> Event:
    """The accounting event of one served ad: what :meth:`SpendLedger.rebuild` replays.

    ``extra`` carries ``charged_price`` (Decimal as string, in the billing unit), ``cost``
    (what the impression itself bills: ``charged_price / 1000`` for CPM and oCPM, ``"0"``
    for click-billed ads, whose clicks bill ``charged_price``), ``ecpm``, ``bid_type``,
    ``billing``, ``advertiser_id``, ``position`` and ``request_id``.
    """
    bid = charge.bid
    cost = money(charge.max_cost) if bid.billing == "impression" else money(0)
    return Event(
        event_id=f"{request.request_id}:ad:{position}",
        ts=request.ts,
        user_id=request.user_id,
        type=EventType.IMPRESSION,
        ad_id=bid.ad_id,
        request_id=request.request_id,
        position=position,
        extra={
            "charged_price": str(money(charge.price)),
            "cost": str(cost),
            "ecpm": round(bid.ecpm, 6),
            "bid_type": bid.bid_type.value,
            "billing": bid.billing,
            "advertiser_id": bid.advertiser_id,
            "position": position,
            "request_id": request.request_id,
            "channel": "ads",
            "propensity": propensity,
        },
    )


class BudgetPacer:
    """Probabilistic throttling so that each advertiser's spend follows the traffic curve.

    Example:
        >>> pacer = BudgetPacer(PacingConfig(band=0.1))
        >>> pacer.allowed_share(DAY / 2)  # uniform traffic: half the day by noon
        0.5
        >>> round(pacer.pass_rate(spent=55.0, budget=100.0, ts=DAY / 2), 6)  # 5% ahead, band 10%
        0.5

    """

    def __init__(self, config: PacingConfig | None = None) -> None:
        self.config = config or PacingConfig()
        hours = np.asarray(self.config.hourly_traffic or [1.0] * 24, dtype=np.float64)
        self._cumulative = np.concatenate([[0.0], np.cumsum(hours / hours.sum())])

    def allowed_share(self, ts: float) -> float:
        """Fraction of the day's traffic (and so of the budget) due by ``ts`` (UTC)."""
        hour = (ts % DAY) / 3600.0
        whole = min(int(hour), 23)
        lo, hi = self._cumulative[whole], self._cumulative[whole + 1]
        return float(lo + (hi - lo) * (hour - whole))

    def pass_rate(self, spent: float, budget: float, ts: float) -> float:
        """Probability that an advertiser who spent ``spent`` today joins an auction at ``ts``."""
        if budget <= 0 or spent >= budget:
            return 0.0
        if not self.config.enabled:
            return 1.0
        ahead = spent / budget - self.allowed_share(ts)
        return float(min(max(1.0 - ahead / self.config.band, 0.0), 1.0))


class BidAdjustConfig(ComponentConfig):
    """The oCPM/oCPC controller: ``adj = clip(1 + kp e + ki sum(e), low, high)``.

    ``e = (target CPA - realised CPA) / target CPA`` per update; the realised CPA is
    ``(spend + target * prior) / (conversions + prior)`` over a fading window (each update
    keeps ``memory`` of the past spend and conversions), so a few lucky or unlucky conversions
    move it little and a change of bid shows in the next updates.
    """

    kp: float = Field(default=0.5, ge=0.0)
    ki: float = Field(default=0.1, ge=0.0)
    low: float = Field(default=0.3, gt=0.0)
    high: float = Field(default=2.0, gt=0.0)
    prior_conversions: float = Field(default=5.0, ge=0.0)
    memory: float = Field(default=0.7, ge=0.0, le=1.0)


@dataclass
class _Loop:
    spend: float = 0.0
    conversions: float = 0.0
    integral: float = 0.0
    adjustment: float = 1.0


class BidAdjuster:
    """Keeps an advertiser's realised CPA near target by scaling its optimised bids.

    Feed spend and conversions as they are billed (:meth:`observe`), then call
    :meth:`update` at a steady rhythm (every few minutes of traffic, or per simulated batch).

    Example:
        >>> adjuster = BidAdjuster()
        >>> adjuster.observe("adv", spend=300.0, conversions=10)  # CPA 30 against a target of 20
        >>> adjuster.update("adv", target_cpa=20.0) < 1.0
        True

    """

    def __init__(self, config: BidAdjustConfig | None = None) -> None:
        self.config = config or BidAdjustConfig()
        self.loops: dict[str, _Loop] = {}

    def adjustment(self, advertiser_id: str) -> float:
        loop = self.loops.get(advertiser_id)
        return loop.adjustment if loop is not None else 1.0

    def observe(self, advertiser_id: str, spend: float = 0.0, conversions: float = 0.0) -> None:
        loop = self.loops.setdefault(advertiser_id, _Loop())
        loop.spend += spend
        loop.conversions += conversions

    def realised_cpa(self, advertiser_id: str, target_cpa: float) -> float:
        loop = self.loops.get(advertiser_id, _Loop())
        prior = self.config.prior_conversions
        return (loop.spend + target_cpa * prior) / max(loop.conversions + prior, 1e-9)

    def update(self, advertiser_id: str, target_cpa: float) -> float:
        """One control step: the new multiplier for ``advertiser_id``'s optimised bids."""
        cfg = self.config
        loop = self.loops.setdefault(advertiser_id, _Loop())
        if not target_cpa or not math.isfinite(target_cpa) or target_cpa <= 0:
            return loop.adjustment
        error = (target_cpa - self.realised_cpa(advertiser_id, target_cpa)) / target_cpa
        raw = 1.0 + cfg.kp * error + cfg.ki * (loop.integral + error)
        clipped = min(max(raw, cfg.low), cfg.high)
        if clipped == raw:  # anti-windup: stop integrating while the output is saturated
            loop.integral += error
        loop.adjustment = clipped
        loop.spend *= cfg.memory
        loop.conversions *= cfg.memory
        return clipped

    def state(self) -> dict[str, Any]:
        """JSON-ready state, for logs and the benchmark."""
        return {a: vars(loop).copy() for a, loop in self.loops.items()}
