"""Business health metrics on a hand-computed event log (expected values derived in comments)."""

from __future__ import annotations

import pytest

from ecorec.core.entities import Ad, BidType, User
from ecorec.metrics.health import compute_health
from tests.metrics.health_log import END, D, e, table

ADS = [
    Ad("a1", "adv1", BidType.CPC, bid=0.5),
    Ad("a2", "adv1", BidType.CPM, bid=4.0),
    Ad("a3", "adv2", BidType.OCPM, bid=20.0),
    Ad("a4", "adv2", BidType.CPC, bid=1.0),
]
USERS = [User("u1"), User("u2"), User("u3")]
T = 5 * D


def _organic(request: str, n: int, user: str = "u1") -> list:
    return [
        e(T, user, "impression", item_id=f"i{k}", position=k, request_id=request) for k in range(n)
    ]


def _ad(request: str, ad: str, user: str = "u1", **extra: str) -> object:
    return e(T, user, "impression", ad_id=ad, position=3, request_id=request, extra=extra or None)


EVENTS = [
    # r1: CPC ad at list price, clicked twice -> bills 0.5 once (per request and ad, as the ledger)
    *_organic("r1", 3),
    _ad("r1", "a1"),
    e(T + 1, "u1", "click", ad_id="a1", request_id="r1"),
    e(T + 2, "u1", "click", ad_id="a1", request_id="r1"),
    # r2: CPM ad at list price -> 4 / 1000
    *_organic("r2", 3),
    _ad("r2", "a2"),
    # r3: oCPM ad at list price, clicked and converted (value 50) -> bills the target 20
    *_organic("r3", 2, "u2"),
    _ad("r3", "a3", "u2"),
    e(T + 3, "u2", "click", ad_id="a3", request_id="r3"),
    e(T + 4, "u2", "conversion", ad_id="a3", request_id="r3", value=50.0, extra={"order_id": "o1"}),
    # r4: no ad
    *_organic("r4", 2, "u2"),
    # r5: logged click-billed ad (the ads re-ranker's accounting), clicked -> charged 0.80
    *_organic("r5", 1, "u3"),
    _ad("r5", "a4", "u3", charged_price="0.80", cost="0", billing="click", advertiser_id="adv2"),
    e(T + 5, "u3", "click", ad_id="a4", request_id="r5"),
    # r6: logged impression-billed ad -> cost 0.005
    _ad(
        "r6",
        "a2",
        "u3",
        charged_price="5.00",
        cost="0.005",
        billing="impression",
        advertiser_id="adv1",
    ),
    # commerce and support
    e(T + 6, "u1", "conversion", item_id="i1", value=30.0, extra={"order_id": "o2"}),
    e(T + 7, "u1", "tip", creator_id="c1", value=2.0),
    e(T + 8, "u2", "subscribe", creator_id="c1", value=5.0),
]
REVENUE = 0.5 + 0.004 + 20.0 + 0.8 + 0.005


@pytest.fixture(scope="module")
def biz() -> dict:
    return compute_health(table(EVENTS), USERS + ADS, "7d", now=END)["business"]


def test_revenue_and_rates(biz: dict) -> None:
    assert (biz["ad_impressions"], biz["ad_clicks"], biz["ad_conversions"]) == (5, 4, 1)
    assert biz["ad_revenue"] == pytest.approx(REVENUE)
    assert biz["revenue_basis"] == "mixed" and biz["unbilled_ad_impressions"] == 0
    assert biz["ecpm"] == pytest.approx(1000 * REVENUE / 5)
    assert biz["ad_ctr"] == pytest.approx(4 / 5)
    assert biz["cpc"] == pytest.approx(REVENUE / 4)
    assert biz["cpa"] == pytest.approx(REVENUE)
    assert biz["roas"] == pytest.approx(50 / REVENUE)


def test_fill_rate_and_ad_load(biz: dict) -> None:
    # requests r1..r6, five with an ad; impressions 11 organic + 5 ads
    assert biz["fill_rate"] == pytest.approx(5 / 6)
    assert biz["ad_load"] == pytest.approx(5 / 16)


def test_gmv_and_per_user_revenue(biz: dict) -> None:
    assert biz["gmv"] == pytest.approx(80.0)  # the ad conversion 50 + the item order 30
    assert biz["user_payments"] == pytest.approx(7.0)
    assert biz["arpu"] == pytest.approx((REVENUE + 7.0) / 3)  # u1 u2 u3 active
    assert biz["arppu"] == pytest.approx(7.0 / 2)


def test_per_advertiser(biz: dict) -> None:
    adv1, adv2 = biz["advertisers"]["adv1"], biz["advertisers"]["adv2"]
    # adv1: a1 0.5 + a2 (0.004 + 0.005); 3 impressions, 2 clicks, nothing sold
    assert adv1["spend"] == pytest.approx(0.509)
    assert (adv1["ad_impressions"], adv1["ad_clicks"], adv1["conversions"]) == (3, 2, 0)
    assert adv1["roas"] == 0.0 and adv1["cpa"] is None
    # adv2: a3 20 + a4 0.8; one conversion worth 50
    assert adv2["spend"] == pytest.approx(20.8)
    assert adv2["cpc"] == pytest.approx(10.4)
    assert adv2["cpa"] == pytest.approx(20.8)
    assert adv2["roas"] == pytest.approx(50 / 20.8)


def test_no_ads_means_null_not_zero() -> None:
    biz = compute_health(table(_organic("r1", 3)), USERS, "7d", now=END)["business"]
    assert biz["ad_revenue"] is None and biz["ecpm"] is None and biz["roas"] is None
    assert biz["revenue_basis"] == "none"
    assert biz["fill_rate"] == 0.0 and biz["ad_load"] == 0.0
