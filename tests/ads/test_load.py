"""Ad-load caps: known positions, maximality against brute force, and a property over inputs."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ecorec.ads.load import LoadPolicy, Promotion, ScenarioConfig, ad_positions, slate_obeys
from ecorec.ads.reranker import AdsReranker
from ecorec.ads.targeting import AdInventory
from ecorec.core.contracts import Request
from ecorec.core.entities import Ad, Advertiser, BidType, User
from ecorec.core.profile import Profile

from ._helpers import DAY0, content, estimates


def test_feed_defaults_place_one_ad_in_five_after_three_content_items():
    assert ad_positions(20, 50, 10, 0.2, 4, 3) == [3, 8, 13, 18]
    assert ad_positions(4, 50, 10, 0.2, 4, 3) == []  # 1 ad in 4 slots is 25%
    assert ad_positions(5, 50, 10, 0.2, 4, 3) == [3]
    assert ad_positions(20, 3, 10, 0.2, 4, 3) == []  # 3 content + 1 ad: 25% again
    assert ad_positions(20, 4, 10, 0.2, 4, 3) == [3]


def _layout(n: int, content: int, positions: list[int]) -> list[bool]:
    length = min(n, content + len(positions))
    return [p in positions for p in range(length)]


def test_positions_are_valid_and_maximal_against_brute_force():
    for n in range(1, 25):
        for content_n in range(0, 25):
            for load, gap, first in [(0.2, 4, 3), (0.34, 1, 0), (0.5, 0, 1), (0.1, 2, 2)]:
                got = ad_positions(n, content_n, n, load, gap, first)
                assert slate_obeys(_layout(n, content_n, got), load, gap, first)[0]
                best = 0
                for k in range(n + 1):  # the earliest-placement layout of k ads
                    cand = [first + j * (gap + 1) for j in range(k)]
                    length = min(n, content_n + k)
                    if (
                        all(p < length for p in cand)
                        and slate_obeys(_layout(n, content_n, cand), load, gap, first)[0]
                    ):
                        best = k
                assert len(got) == best, (n, content_n, load, gap, first)


def test_scenario_lowers_and_promotions_raise_the_load():
    promo = Promotion(
        starts_at=datetime(2024, 11, 11, tzinfo=UTC),
        ends_at=datetime(2024, 11, 12, tzinfo=UTC),
        multiplier=1.25,
        scenes=("feed",),
    )
    scenario = ScenarioConfig(
        segments={"heavy": 0.5}, payer=0.5, churn_risk=0.5, promotions=(promo,)
    )
    policy = LoadPolicy(feed_max_load=0.2, scenario=scenario, load_ceiling=0.24)
    t = datetime(2024, 11, 1, tzinfo=UTC).timestamp()
    assert policy.load("feed", "casual", None, t) == 0.2
    assert policy.load("feed", "heavy", None, t) == 0.1
    assert policy.load("feed", "casual", User("u", attrs={"payer": True}), t) == 0.1
    risky = User("u", attrs={"churn_risk": 0.8})
    assert policy.load("feed", "heavy", risky, t) == 0.05
    during = promo.starts_at.timestamp() + 3600
    assert policy.load("feed", "casual", None, during) == 0.24  # 0.25, held at the ceiling
    assert policy.load("detail", "casual", None, during) == policy.load("detail", "casual", None, t)


SEGMENTS = ["casual", "regular", "heavy", "new", "payer", "churn_risk", None]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    content_n=st.integers(0, 60),
    ads_n=st.integers(0, 12),
    scene=st.sampled_from(["feed", "detail", "search", "live"]),
    segment=st.sampled_from(SEGMENTS),
    bids=st.lists(st.floats(-2.0, 50.0), min_size=12, max_size=12),
    kinds=st.lists(st.sampled_from(list(BidType)), min_size=12, max_size=12),
    load=st.floats(0.0, 1.0),
    gap=st.integers(0, 6),
    first=st.integers(0, 6),
    promo=st.booleans(),
)
def test_no_slate_breaks_its_cap_spacing_or_first_position(
    n, content_n, ads_n, scene, segment, bids, kinds, load, gap, first, promo
):
    advertisers = [Advertiser(f"x{k}", daily_budget=1e6, target_cpa=10.0) for k in range(4)]
    ads = [
        Ad(f"a{k}", f"x{k % 4}", bid_type=kinds[k], bid=bids[k], category=f"c{k % 3}")
        for k in range(ads_n)
    ]
    promotions = (
        [
            {
                "starts_at": datetime(2024, 1, 1, tzinfo=UTC),
                "ends_at": datetime(2030, 1, 1, tzinfo=UTC),
                "multiplier": 3.0,
            }
        ]
        if promo
        else []
    )
    stage = AdsReranker(
        {
            "feed_max_load": load,
            "min_gap": gap,
            "first_position": first,
            "scene_max_load": {"detail": load / 2},
            "one_per_advertiser": False,
            "floor": {"base": 0.0},
            "scenario": {"promotions": promotions},
        },
        inventory=AdInventory.of(ads, advertisers),
        estimates=estimates(),
    )
    request = Request("u", scene, n, {"segment": segment}, "r1", DAY0 + 3600)
    slate = stage(request, Profile("u"), content(content_n))[:n]
    cap = stage.policy.load(scene, segment, None, request.ts)
    assert cap <= stage.config.load_ceiling
    flags = [c.is_ad for c in slate]
    event(f"ads in slate: {min(sum(flags), 3)}")
    ok, rule = slate_obeys(flags, cap, gap, first)
    assert ok, rule
    assert [c.item_id for c in slate if not c.is_ad] == [
        f"i{k}" for k in range(len(slate) - sum(flags))
    ]
    for c in slate:
        if c.is_ad:
            assert "sponsored" in c.reasons and c.item_id == f"ad:{c.ad_id}"
