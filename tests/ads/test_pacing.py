"""Budget pacing over a simulated day, the spend ledger, and the oCPM bid controller."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from ecorec.ads.pacing import DAY, BidAdjuster, BudgetPacer, PacingConfig, SpendLedger, utc_day
from ecorec.ads.reranker import AdsReranker
from ecorec.ads.targeting import AdInventory
from ecorec.core.contracts import Request, SlateItem
from ecorec.core.entities import Ad, Advertiser, BidType
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile

from ._helpers import DAY0, content, estimates

BUDGET = 10.0
BAND = 0.05


def _stage(pacing: bool) -> AdsReranker:
    advertisers = [Advertiser(f"adv{k}", daily_budget=BUDGET, target_cpa=20.0) for k in range(3)]
    ads = [
        Ad("cpm", "adv0", BidType.CPM, bid=8.0, landing_quality=0.6),
        Ad("cpc", "adv1", BidType.CPC, bid=0.4, landing_quality=0.8),
        Ad("ocpm", "adv2", BidType.OCPM, bid=0.0, target_cpa=20.0, landing_quality=0.5),
    ]
    return AdsReranker(
        {"pacing": {"band": BAND, "enabled": pacing}, "floor": {"base": 4.0}},
        inventory=AdInventory.of(ads, advertisers),
        estimates=estimates((0.02, 0.1)),
    )


def _simulate_day(stage: AdsReranker, requests: int = 6000, seed: int = 1):
    """Uniform traffic over one UTC day; clicks at pCTR. Returns spend at every request."""
    rng = np.random.default_rng(seed)
    items = content(15)
    trace = []
    for r in range(requests):
        ts = DAY0 + (r + 0.5) * DAY / requests
        request = Request(f"u{r % 97}", "feed", 15, {}, f"r{r}", ts)  # 3 ad slots
        slate = stage(request, Profile(request.user_id), items)
        for c in slate:
            if c.is_ad and rng.random() < c.predictions["click"]:
                stage.record_click(request.request_id, c.ad_id or "", ts + 1.0)
        trace.append(
            (ts, {a: float(stage.ledger.spend(a, utc_day(ts))) for a in ("adv0", "adv1", "adv2")})
        )
    return trace


def _spend_at(trace, hour: float) -> dict[str, float]:
    cut = DAY0 + hour * 3600
    return [spend for ts, spend in trace if ts <= cut][-1]


@pytest.fixture(scope="module")
def paced():
    return _simulate_day(_stage(pacing=True))


def test_spend_never_exceeds_budget_across_the_day(paced):
    for _, spend in paced:
        assert all(s <= BUDGET for s in spend.values())


def test_pacing_follows_uniform_traffic(paced):
    # the throttle bound: at most band x budget (plus one charge, <= 0.4) ahead of the curve
    for hour in (3, 6, 12, 18):
        for advertiser, spent in _spend_at(paced, hour).items():
            assert spent <= (hour / 24 + BAND) * BUDGET + 0.4, (hour, advertiser)
    # and the budget is still spent by the end of the day
    assert all(s >= 0.9 * BUDGET for s in paced[-1][1].values())


def test_without_pacing_the_budget_is_gone_by_noon():
    trace = _simulate_day(_stage(pacing=False))
    assert all(s >= 0.95 * BUDGET for s in _spend_at(trace, 12).values())
    assert all(s <= BUDGET for _, spend in trace for s in spend.values())


def test_pass_rate_curve_and_hourly_traffic():
    evening = [0.0] * 18 + [1.0] * 6  # all traffic after 18:00
    pacer = BudgetPacer(PacingConfig(hourly_traffic=tuple(evening), band=0.1))
    assert pacer.allowed_share(DAY0 + 12 * 3600) == 0.0
    assert pacer.allowed_share(DAY0 + 21 * 3600) == pytest.approx(0.5)
    assert pacer.pass_rate(0.0, 100.0, DAY0 + 12 * 3600) == 1.0  # on the curve
    assert pacer.pass_rate(10.0, 100.0, DAY0 + 12 * 3600) == 0.0  # a band ahead
    assert pacer.pass_rate(100.0, 100.0, DAY0 + 23 * 3600) == 0.0  # spent
    with pytest.raises(ValueError, match="24"):
        PacingConfig(hourly_traffic=(1.0, 2.0))


def test_ledger_caps_charges_and_rebuilds_from_accounting_events():
    ledger = SpendLedger()
    assert ledger.charge("a", 1, Decimal("0.7"), budget=1.0) == Decimal("0.7")
    assert ledger.charge("a", 1, Decimal("0.5"), budget=1.0) == Decimal("0.3")
    assert ledger.spend("a", 1) == Decimal("1.0") and ledger.forgiven == Decimal("0.2")

    stage = _stage(pacing=True)
    events: list[Event] = []
    for r in range(300):
        ts = DAY0 + 3600 + r
        request = Request(f"u{r}", "feed", 10, {}, f"r{r}", ts)
        slate = stage(request, Profile(request.user_id), content(12))
        items = [
            SlateItem(c.item_id, p, c.score, c.channel, c.reasons, c.is_ad, c.ad_id, c.propensity)
            for p, c in enumerate(slate[:10])
        ]
        events += stage.accounting_events(request, items, stage.charges(request.request_id))
        for item in items:
            if item.ad_id == "cpc" and r % 7 == 0:
                stage.record_click(request.request_id, "cpc", ts + 1)
                stage.record_click(request.request_id, "cpc", ts + 2)  # a double click bills once
                events.append(
                    Event(
                        f"c{r}",
                        ts + 1,
                        request.user_id,
                        EventType.CLICK,
                        ad_id="cpc",
                        request_id=request.request_id,
                    )
                )
    assert events and all(isinstance(e.extra["charged_price"], str) for e in events if e.extra)
    rebuilt = SpendLedger()
    rebuilt.rebuild(events, stage.inventory.budgets())
    assert rebuilt.spent == stage.ledger.spent


def test_bid_adjuster_brings_realised_cpa_to_target():
    target, overpay = 20.0, 1.5  # at adjustment 1 this advertiser pays 1.5x its target CPA
    adjuster = BidAdjuster()
    for _ in range(120):
        adj = adjuster.adjustment("a")
        spend = 500.0 * adj
        adjuster.observe("a", spend=spend, conversions=spend / (target * overpay * adj))
        adjuster.update("a", target)
    assert adjuster.adjustment("a") == pytest.approx(1 / overpay, rel=0.03)
    assert adjuster.realised_cpa("a", target) == pytest.approx(target, rel=0.03)

    cheap = BidAdjuster()
    for _ in range(200):  # CPA far below target at any bid: the multiplier rises to its cap
        cheap.observe("b", spend=100.0, conversions=50.0)
        cheap.update("b", target)
    assert cheap.adjustment("b") == cheap.config.high
