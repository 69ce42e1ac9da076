"""Curated injection, and the four re-rankers in one configured Pipeline."""

from __future__ import annotations

import pytest

from ecorec.core.config import load_config
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, CreatorStage, CuratedPool, Item, User
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Profile
from ecorec.data.catalog import SQLCatalog
from ecorec.data.lookup import ItemLookup
from ecorec.factory import build_components
from ecorec.features.entities import Entities
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.rerank.creator import CreatorTraffic
from ecorec.rerank.curated import CuratedInjection
from ecorec.rerank.explore import ExploreSlots
from ecorec.rerank.fairness import ExposureFairness


@pytest.fixture
def catalog():
    catalog = SQLCatalog("sqlite:///:memory:")
    items = [Item(i, creator_id="c1" if i != "blocked" else "bad") for i in "abcdefxyz"]
    catalog.put(
        [
            *items,
            Item("blocked", creator_id="bad"),
            User("vip", segment="heavy"),
            User("casual", segment="light"),
            CuratedPool("event", "Final", ("x", "y"), starts_at=10, ends_at=20, position_hint=1),
            CuratedPool("heavy", "For heavy users", ("z",), segments=("heavy",), position_hint=0),
            CuratedPool("old", "Expired", ("d",), starts_at=0, ends_at=5, position_hint=0),
            CuratedPool("nohint", "No hint", ("e",)),
            CuratedPool("bad", "Broken", ("a", "ghost"), position_hint=0),  # unknown item
            CuratedPool("blk", "Blocked", ("blocked",), starts_at=30, position_hint=0),
        ]
    )
    yield catalog
    catalog.close()


def ranked() -> list[Candidate]:
    return [Candidate(i, 10.0 - k, "popular") for k, i in enumerate("abcdef")]


def run(catalog, request: Request, profile: Profile | None = None, **config) -> list[str]:
    curated = CuratedInjection(config)
    curated.attach(catalog)
    out = curated(request, profile or Profile(request.user_id), ranked())
    return [c.item_id for c in out]


def test_pools_are_validated_on_read(catalog, caplog):
    curated = CuratedInjection()
    with caplog.at_level("WARNING"):
        curated.attach(catalog)
    assert {p.pool_id for p in curated.pools} == {"event", "heavy", "old", "nohint", "blk"}
    assert "bad" in caplog.text and "ghost" in caplog.text


def test_empty_in_empty_out(catalog):
    curated = CuratedInjection()
    curated.attach(catalog)
    assert curated(Request("vip", ts=15), Profile("vip"), []) == []


def test_active_pools_land_on_their_hints_for_their_segments(catalog):
    # vip is "heavy": the heavy pool (hint 0) and the live event pool (hint 1) apply;
    # the expired pool "old" is ignored, "nohint" is left to recall
    assert run(catalog, Request("vip", ts=15)) == ["z", "x", *"abcdef"]
    assert run(catalog, Request("casual", ts=15)) == ["a", "x", *"bcdef"]
    assert run(catalog, Request("casual", ts=25)) == list("abcdef")  # event window over
    assert run(catalog, Request("casual", ts=15, context={"segment": "heavy"}))[0] == "z"
    two = run(catalog, Request("casual", ts=15), items_per_pool=2)
    assert two == ["a", "x", "y", *"bcdef"]
    assert run(catalog, Request("casual", ts=25), default_position=2) == ["a", "b", "e", *"cdf"]


def test_reasons_moves_and_filters(catalog):
    curated = CuratedInjection()
    curated.attach(catalog)
    candidates = ranked() + [Candidate("x", 1.0, "curated", reasons=["curated:event"])]
    out = curated(Request("casual", ts=15), Profile("casual"), candidates)
    assert [c.item_id for c in out] == ["a", "x", *"bcdef"]  # moved up, not duplicated
    assert out[1].reasons == ["curated:event"]
    assert out[1].channel == "curated"

    high = [Candidate("x", 99.0, "popular"), *ranked()]
    out = curated(Request("casual", ts=15), Profile("casual"), high)
    assert out[0].item_id == "x" and out[0].reasons == ["curated:event"]  # never demoted

    seen = Profile("casual", seen={"x"})
    assert run(catalog, Request("casual", ts=15), seen)[1] == "y"  # x consumed: the next one
    assert run(catalog, Request("casual", ts=15), seen, exclude_seen=False)[1] == "x"
    blocked = Profile("casual", blocked_creators={"bad"})
    assert "blocked" not in run(catalog, Request("casual", ts=35), blocked)
    assert run(catalog, Request("casual", ts=35))[0] == "blocked"
    no_consent = Profile("vip", consent={"personalization": False})
    assert "z" not in run(catalog, Request("vip", ts=15), no_consent)


TOML = """
[pipeline.recall]
channels = ["popular", "long_tail"]

[pipeline.rank]
model = "recall_order"

[pipeline.rerank]
order = ["fairness", "creator_traffic", "explore", "curated"]
explore = {share = 0.2}
creator_traffic = {novice_share = 0.3, head_cap = 0.2, min_quality = 0.3}
fairness = {target_ratio = 0.5, window = 40}
curated = {items_per_pool = 1}
"""


def test_pipeline_runs_the_rerankers_in_the_configured_order(tmp_path, tiny_platform):
    path = tmp_path / "ecorec.toml"
    path.write_text(TOML)
    components = build_components(load_config(path))
    fair, traffic, explore, curated = components.rerankers
    assert isinstance(explore, ExploreSlots) and explore.config.share == 0.2
    assert isinstance(traffic, CreatorTraffic) and traffic.config.head_cap == 0.2
    assert isinstance(fair, ExposureFairness) and isinstance(curated, CuratedInjection)

    catalog = tiny_platform.catalog
    pool_items = catalog.ids(Item, limit=3)
    # the pool lives in a copy of the platform's catalog (the shared fixture is read-only)
    copy = SQLCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    copy.put([*catalog.scan(Item), *catalog.scan(Creator), *catalog.scan(User)])
    copy.put([CuratedPool("launch", "Launch", tuple(pool_items[:1]), position_hint=2)])
    for channel in components.channels:
        channel.train(_training(tiny_platform))  # type: ignore[attr-defined]
    for reranker in (fair, traffic, curated):
        reranker.attach(copy)
    pipeline = Pipeline(
        components.channels,  # type: ignore[arg-type]
        Merge(items=ItemLookup.from_catalog(copy)),
        RecallOrderRanker(),
        components.rerankers,  # type: ignore[arg-type]
        clock=lambda: 1.0,
    )
    request = Request("u0000001", n=10, request_id="req-1")
    slate = pipeline(request)
    assert len(slate.items) == 10
    assert slate.items[2].item_id == pool_items[0]
    assert "curated:launch" in slate.items[2].reasons
    explored = [i for i in slate.items if "rerank:explore(thompson)" in i.reasons]
    assert explored and all(i.propensity is not None for i in explored)
    assert all("recall:long_tail" in i.reasons for i in explored)
    entities = Entities.from_catalog(copy)
    stages = []
    for slot in slate.items:
        if slot in explored or slot.position == 2:
            continue  # the explore and curated slots are placed after the cap, by design
        item = entities.item(slot.item_id)
        creator = entities.creator(item.creator_id) if item and item.creator_id else None
        stages.append(creator.stage if creator else None)
    assert stages.count(CreatorStage.HEAD) <= 2
    assert pipeline(request).to_dict() == slate.to_dict()  # seeded per request: replays
    copy.close()


def _training(stores):
    from ecorec.data.training import TrainingData

    return TrainingData(stores.events, stores.catalog)
