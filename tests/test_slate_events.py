"""What a served slate logs: explore slots as bandit decisions, ad slots as accounting events."""

from __future__ import annotations

from decimal import Decimal

from ecorec.ads.reranker import AdsReranker
from ecorec.bandits.feedback import rewards_from_events
from ecorec.core.contracts import Candidate, Request
from ecorec.core.events import Event, EventType, validate_event
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Profile
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.rerank.explore import ExploreSlots
from ecorec.slate_events import slate_events
from tests.ads._helpers import DAY0, estimates, inventory


class Feed:
    """A recall channel of ``count`` items named ``<prefix><k>``."""

    personalized = False

    def __init__(self, name: str, prefix: str, count: int) -> None:
        self.name, self.prefix, self.count = name, prefix, count

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        return [Candidate(f"{self.prefix}{k}", 30.0 - k, self.name) for k in range(self.count)]


def pipeline() -> Pipeline:
    explore = ExploreSlots({"share": 0.2, "seed": 3})
    ads = AdsReranker({"floor": {"base": 1.0}}, inventory=inventory(5), estimates=estimates())
    channels = [Feed("feed", "i", 20), Feed("explore", "x", 10)]
    return Pipeline(channels, Merge(), RecallOrderRanker(), [explore, ads])


def test_explore_and_ad_slots_log_what_replays_need() -> None:
    served = pipeline()
    request = Request("u1", "feed", 20, {}, "req-1", DAY0 + 60)
    slate = served(request)
    events = slate_events(request, slate, served)
    assert [e.position for e in events] == list(range(len(slate.items)))
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        validate_event(event)
        assert event.type is EventType.IMPRESSION and event.request_id == "req-1"
    by_position = {e.position: e for e in events}

    explored = [s for s in slate.items if "rerank:explore(thompson)" in s.reasons]
    assert explored
    for slot in explored:
        extra = by_position[slot.position].extra or {}
        assert extra["arm"] == slot.item_id and extra["policy"] == "thompson"
        assert extra["propensity"] == slot.propensity

    ads = [s for s in slate.items if s.is_ad]
    assert ads
    charges = served.rerankers[1].charges("req-1")  # type: ignore[attr-defined]
    for slot in ads:
        event = by_position[slot.position]
        extra = event.extra or {}
        assert event.ad_id == slot.ad_id and event.item_id == slot.item_id
        assert Decimal(extra["charged_price"]) == Decimal(str(charges[slot.ad_id].price)).quantize(
            Decimal(extra["charged_price"])
        )
        assert extra["advertiser_id"] == charges[slot.ad_id].bid.advertiser_id
        assert extra["reasons"] == list(slot.reasons) and extra["scene"] == "feed"

    # the log alone teaches the bandit: a click on one explored slot is one reward of 1
    clicked = explored[0]
    click = Event("c1", DAY0 + 70, "u1", EventType.CLICK, clicked.item_id, request_id="req-1")
    rewards = rewards_from_events([*events, click], policy="thompson")
    assert sorted((r.arm, r.reward) for r in rewards) == sorted(
        (s.item_id, 1.0 if s is clicked else 0.0) for s in explored
    )


def test_ordinary_slots_keep_the_plain_impression() -> None:
    served = Pipeline([Feed("feed", "i", 20)], Merge(), RecallOrderRanker(), [])
    request = Request("u2", "detail", 5, {}, "req-2", DAY0)
    events = slate_events(request, served(request), served)
    assert [e.event_id for e in events] == [f"req-2:{k}" for k in range(5)]
    assert all("arm" not in (e.extra or {}) and e.ad_id is None for e in events)
    assert {(e.extra or {})["scene"] for e in events} == {"detail"}
