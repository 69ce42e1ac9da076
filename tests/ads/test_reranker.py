"""AdsReranker: bad input, accounting, training, and the one Pipeline on a synthetic platform."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from ecorec.ads.load import slate_obeys
from ecorec.ads.reranker import USER_SECONDS, AdsReranker
from ecorec.ads.targeting import AdInventory
from ecorec.core.component import NotTrainedError, Trainable
from ecorec.core.config import load_config
from ecorec.core.contracts import Request, SlateItem
from ecorec.core.entities import Ad, Advertiser, BidType, User
from ecorec.core.events import EventType, validate_event
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Profile
from ecorec.data.catalog.sql import SQLCatalog
from ecorec.data.lookup import ItemLookup
from ecorec.factory import build_components
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.recall.popular import PopularRecall

from ._helpers import DAY0, content, estimates, inventory


def test_bad_bids_are_skipped_and_counted():
    owner = Advertiser("x", daily_budget=100.0, target_cpa=None)
    ads = [
        Ad("neg", "x", BidType.CPC, bid=-0.5),
        Ad("zero", "x", BidType.CPM, bid=0.0),
        Ad("nan", "x", BidType.CPM, bid=math.nan),
        Ad("none", "x", BidType.CPC, bid=None),  # type: ignore[arg-type]
        Ad("ocpm-no-cpa", "x", BidType.OCPM),
        Ad("orphan", "nobody", BidType.CPM, bid=3.0),
        Ad("ok", "x", BidType.CPM, bid=3.0),
    ]
    inv = AdInventory.of(ads, [owner])
    assert [e.ad.ad_id for e in inv.entries] == ["ok"]
    assert inv.skipped == {"negative_bid": 1, "missing_bid": 4, "unknown_advertiser": 1}
    stage = AdsReranker({"floor": {"base": 0.0}}, inventory=inv, estimates=estimates())
    out = stage(Request("u", n=10, request_id="r", ts=DAY0), Profile("u"), content(10))
    assert [c.ad_id for c in out if c.is_ad] == ["ok"]


def test_empty_candidates_give_an_empty_list_with_a_reason():
    stage = AdsReranker(inventory=inventory(), estimates=estimates())
    assert stage(Request("u", request_id="r", ts=DAY0), Profile("u"), []) == []
    assert stage.decision("r").reason == "no_content"  # type: ignore[union-attr]
    # no ads at all, or all below the floor: the content comes back untouched
    empty = AdsReranker(inventory=AdInventory(), estimates=estimates())
    out = empty(Request("u", n=10, request_id="r2", ts=DAY0), Profile("u"), content(10))
    assert [c.item_id for c in out] == [f"i{k}" for k in range(10)]
    assert empty.decision("r2").reason == "no_eligible_ads"  # type: ignore[union-attr]
    high = AdsReranker({"floor": {"base": 1e6}}, inventory=inventory(), estimates=estimates())
    high(Request("u", n=10, request_id="r3", ts=DAY0), Profile("u"), content(10))
    assert high.decision("r3").reason == "below_floor"  # type: ignore[union-attr]


def test_untrained_stage_fails_fast():
    with pytest.raises(NotTrainedError):
        AdsReranker(inventory=inventory())(Request("u"), Profile("u"), content(5))


def test_targeting_by_interest_scene_and_segment_and_consent():
    owner = Advertiser("x", daily_budget=100.0)
    others = [Advertiser(f"y{k}", daily_budget=100.0) for k in range(3)]
    ads = [
        Ad("sport", "y0", BidType.CPM, bid=2.0, category="sport"),
        Ad("music", "y1", BidType.CPM, bid=9.0, category="music"),
        Ad(
            "detail-only",
            "y2",
            BidType.CPM,
            bid=50.0,
            category="sport",
            attrs={"scenes": ["detail"]},
        ),
        Ad(
            "heavy-only",
            "x",
            BidType.CPM,
            bid=40.0,
            category="sport",
            attrs={"segments": ["heavy"]},
        ),
    ]
    inv = AdInventory.of(ads, [owner, *others])
    assert [e.ad.ad_id for e in inv.candidates("feed", "casual", ["sport"])] == ["sport"]
    assert {e.ad.ad_id for e in inv.candidates("feed", "heavy", ["sport"])} == {
        "sport",
        "heavy-only",
    }
    assert {e.ad.ad_id for e in inv.candidates("detail", None, ["sport"])} == {
        "sport",
        "detail-only",
    }
    assert {e.ad.ad_id for e in inv.candidates("feed", None, ["cooking"])} == {"sport", "music"}

    stage = AdsReranker({"floor": {"base": 0.0}}, inventory=inv, estimates=estimates())
    fan = Profile("u", interests={"sport": 5.0})
    out = stage(Request("u", n=5, request_id="a", ts=DAY0), fan, content(5))
    assert [c.ad_id for c in out if c.is_ad] == ["sport"]
    fan.consent["ads_personalization"] = False  # contextual only: broad match, music wins
    out = stage(Request("u", n=5, request_id="b", ts=DAY0), fan, content(5))
    assert [c.ad_id for c in out if c.is_ad] == ["music"]


def test_accounting_events_carry_the_charged_price():
    stage = AdsReranker({"floor": {"base": 1.0}}, inventory=inventory(5), estimates=estimates())
    request = Request("u", n=20, request_id="req", ts=DAY0 + 60)
    ranked = stage(request, Profile("u"), content(30))[:20]
    items = [
        SlateItem(c.item_id, p, c.score, c.channel, c.reasons, c.is_ad, c.ad_id, c.propensity)
        for p, c in enumerate(ranked)
    ]
    charges = stage.charges("req")
    events = stage.accounting_events(request, items, charges)
    assert [e.position for e in events] == [3, 8, 13, 18]
    for event in events:
        validate_event(event)
        assert event.type is EventType.IMPRESSION and event.request_id == "req"
        extra = event.extra or {}
        charge = charges[event.ad_id or ""]
        assert Decimal(extra["charged_price"]) <= Decimal(str(charge.bid.bid))
        assert extra["bid_type"] == "cpm" and extra["billing"] == "impression"
        assert abs(Decimal(extra["cost"]) - Decimal(extra["charged_price"]) / 1000) <= Decimal(
            "1e-6"
        )
    # CPM ads were billed at serving time
    spent = sum(stage.ledger.spent.values())
    assert spent == sum(Decimal((e.extra or {})["cost"]) for e in events)


def test_stage_builds_from_toml_and_is_trainable(tmp_path):
    path = tmp_path / "ecorec.toml"
    path.write_text(
        '[pipeline.recall]\nchannels = ["popular"]\n[pipeline.rank]\nmodel = "recall_order"\n'
        '[pipeline.rerank]\norder = ["ads"]\n'
        "ads = { feed_max_load = 0.2, min_gap = 4, first_position = 3 }\n"
    )
    (stage,) = build_components(load_config(path)).rerankers
    assert isinstance(stage, AdsReranker) and isinstance(stage, Trainable)
    assert (stage.config.feed_max_load, stage.config.min_gap, stage.config.first_position) == (
        0.2,
        4,
        3,
    )


def test_pipeline_on_the_synthetic_platform(tiny_platform, tiny_training_data, tmp_path):
    popular = PopularRecall({"n": 200})
    popular.train(tiny_training_data)
    stage = AdsReranker({"floor": {"base": 0.1}})
    stage.train(tiny_training_data)
    stage.save(tmp_path)
    loaded = AdsReranker({"floor": {"base": 0.1}})
    loaded.load(tmp_path)
    assert loaded.estimates is not None and loaded.estimates.ad_rates == stage.estimates.ad_rates  # type: ignore[union-attr]
    assert loaded.estimates.counts  # the platform logged ad impressions
    loaded.attach(tiny_platform.catalog)
    pipeline = Pipeline(
        [popular],
        Merge(items=ItemLookup.from_catalog(tiny_platform.catalog)),
        RecallOrderRanker(),
        [loaded],
        profiles=tiny_platform.profiles,
    )
    users = tiny_platform.catalog.ids(
        __import__("ecorec.core.entities", fromlist=["User"]).User, limit=30
    )
    with_ads = 0
    for k, user_id in enumerate(users):
        slate = pipeline(Request(user_id, n=20, request_id=f"p{k}", ts=DAY0 + 3600 * (k % 24)))
        flags = [item.is_ad for item in slate.items]
        cap = loaded.decision(f"p{k}").load  # type: ignore[union-attr]
        assert slate_obeys(flags, cap, 4, 3)[0]
        for item in slate.items:
            if item.is_ad:
                with_ads += 1
                assert "sponsored" in item.reasons and item.item_id == f"ad:{item.ad_id}"
                assert item.position >= 3 and item.channel == "ads"
    assert with_ads > 0


def test_a_users_segment_comes_from_the_catalog_and_is_kept_a_while_not_for_good():
    catalog = SQLCatalog("sqlite:///:memory:")
    catalog.put([User("u", segment="heavy")])
    stage = AdsReranker({"floor": {"base": 0.0}}, inventory=inventory(), estimates=estimates())
    stage.catalog = catalog  # what attach() sets (it would also read the inventory from it)
    now = [0.0]
    stage._recent_users.clock = lambda: now[0]

    def load(request_id: str) -> float:
        stage(Request("u", n=10, request_id=request_id, ts=DAY0), Profile("u"), content(10))
        return stage.decision(request_id).load  # type: ignore[union-attr]

    heavy = load("a")  # the default scenario halves a heavy user's ad load
    catalog.put([User("u", segment="casual")])
    assert load("b") == heavy  # the row read a moment ago is trusted
    now[0] = USER_SECONDS
    assert load("c") == pytest.approx(2 * heavy)  # re-read: the new segment counts
