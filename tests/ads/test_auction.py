"""GSP with a reserve: hand-computed auctions, truthfulness where theory says, price bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecorec.ads.auction import FloorConfig, GSPAuction, QualityConfig, make_bid
from ecorec.core.entities import BidType


def cpc(ad: str, bid: float, pctr: float, advertiser: str | None = None, quality: float = 1.0):
    return make_bid(ad, advertiser or ad, BidType.CPC, bid, pctr, 0.0, quality)


def test_three_bidders_two_slots_hand_computed():
    # eCPM = bid x pCTR x 1000: A 20, B 15, C 6
    bids = [cpc("A", 2.0, 0.01), cpc("B", 1.0, 0.015), cpc("C", 3.0, 0.002)]
    charges = GSPAuction().run(bids, slots=2, floor=4.0)
    assert [c.bid.ad_id for c in charges] == ["A", "B"]
    # A pays B's eCPM over its own factor 10 per unit of bid: 15 / 10; B pays C's: 6 / 15
    assert charges[0].price == pytest.approx(1.5)
    assert charges[1].price == pytest.approx(0.4)
    assert charges[1].reserve == pytest.approx(4.0 / 15.0)
    # a floor of 10 shuts C out: B, now last, pays the reserve
    charges = GSPAuction().run(bids, slots=2, floor=10.0)
    assert [c.bid.ad_id for c in charges] == ["A", "B"]
    assert charges[1].price == pytest.approx(10.0 / 15.0)
    # a floor above everyone: no winner
    assert GSPAuction().run(bids, slots=2, floor=25.0) == []


def test_quality_lets_the_better_ad_win_and_pay_less_per_unit():
    q = QualityConfig(min_quality=0.5)
    good = cpc("good", 1.0, 0.01, quality=q.score(1.0))  # q 1.0 -> eCPM 10
    poor = cpc("poor", 1.5, 0.01, quality=q.score(0.0))  # q 0.5 -> eCPM 7.5
    (charge,) = GSPAuction().run([poor, good], slots=1, floor=0.0)
    assert charge.bid.ad_id == "good" and charge.price == pytest.approx(0.75)


def test_ecpm_per_bid_type():
    q = QualityConfig(min_quality=0.5).score(0.8)  # 0.9
    assert make_bid("a", "x", BidType.CPC, 0.5, 0.02, 0.1, q).ecpm == pytest.approx(9.0)
    assert make_bid("a", "x", BidType.CPM, 6.0, 0.02, 0.1, q).ecpm == pytest.approx(5.4)
    ocpm = make_bid("a", "x", BidType.OCPM, 20.0, 0.02, 0.05, q, adjustment=1.2)
    assert ocpm.ecpm == pytest.approx(20 * 0.02 * 0.05 * 1000 * 1.2 * 0.9)
    assert ocpm.billing == "impression" and ocpm.bid == pytest.approx(24.0)
    ocpc = make_bid("a", "x", BidType.OCPC, 20.0, 0.02, 0.05, q, adjustment=1.2)
    assert ocpc.ecpm == pytest.approx(ocpm.ecpm)
    assert ocpc.billing == "click" and ocpc.bid == pytest.approx(1.2)  # CPA x pCVR x adj


def test_dynamic_floor_by_segment_and_scene():
    floor = FloorConfig(base=2.0, segments={"heavy": 1.5}, scenes={"detail": 2.0})
    assert floor.floor("heavy", "detail") == pytest.approx(6.0)
    assert floor.floor(None, "feed") == pytest.approx(2.0)


def test_one_ad_per_advertiser():
    bids = [cpc("a1", 2.0, 0.01, "x"), cpc("a2", 1.9, 0.01, "x"), cpc("b", 1.0, 0.01, "y")]
    charges = GSPAuction().run(bids, slots=2, floor=0.0)
    assert [c.bid.ad_id for c in charges] == ["a1", "b"]
    assert charges[0].price == pytest.approx(1.0)  # x does not set its own price with a2


def _utility(value: float, bid: float, others: list[float], floor: float) -> float:
    bids = [cpc("me", bid, 0.01)] + [cpc(f"o{k}", b, 0.01) for k, b in enumerate(others)]
    charges = GSPAuction().run(bids, slots=1, floor=floor)
    won = [c for c in charges if c.bid.ad_id == "me"]
    return (value - won[0].price) * 0.01 if won else 0.0


@settings(max_examples=150, deadline=None)
@given(
    value=st.floats(0.05, 5.0),
    others=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=4),
    floor=st.floats(0.0, 20.0),
)
def test_one_slot_gsp_is_vickrey_and_truthful(value, others, floor):
    truthful = _utility(value, value, others, floor)
    for factor in (0.5, 0.8, 0.95, 1.05, 1.25, 2.0):
        assert _utility(value, value * factor, others, floor) <= truthful + 1e-12


def test_price_does_not_depend_on_own_bid_while_rank_holds():
    others = [cpc("B", 1.0, 0.015), cpc("C", 3.0, 0.002)]
    prices = {
        bid: GSPAuction().run([cpc("A", bid, 0.01), *others], 2, 4.0)[0].price
        for bid in (1.6, 2.0, 5.0)
    }
    assert len(set(prices.values())) == 1


bid_strategy = st.builds(
    lambda k, t, amount, pctr, pcvr, q, adv: make_bid(
        f"ad{k}", f"adv{adv}", t, amount, pctr, pcvr, q
    ),
    st.integers(0, 10_000),
    st.sampled_from(list(BidType)),
    st.floats(0.01, 100.0),
    st.floats(1e-4, 0.5),
    st.floats(1e-3, 0.5),
    st.floats(0.5, 1.0),
    st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(
    bids=st.lists(bid_strategy, max_size=12, unique_by=lambda b: b.ad_id),
    slots=st.integers(0, 5),
    floor=st.floats(0.0, 50.0),
    one_per_advertiser=st.booleans(),
)
def test_price_never_above_bid_nor_below_reserve(bids, slots, floor, one_per_advertiser):
    charges = GSPAuction(one_per_advertiser).run(bids, slots, floor)
    assert len(charges) <= slots
    for charge in charges:
        assert charge.price <= charge.bid.bid
        assert charge.price >= charge.reserve * (1 - 1e-9)
        assert charge.charged_ecpm >= floor * (1 - 1e-9) - 1e-12
        assert charge.charged_ecpm <= charge.bid.ecpm * (1 + 1e-9)
    ecpms = [c.bid.ecpm for c in charges]
    assert ecpms == sorted(ecpms, reverse=True)
    if one_per_advertiser:
        owners = [c.bid.advertiser_id for c in charges]
        assert len(owners) == len(set(owners))
