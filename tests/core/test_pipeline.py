import pyarrow as pa
import pytest

from ecorec.core.component import NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Consent, Profile, ProfileDelta
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles import MemoryProfileStore
from ecorec.data.training import TrainingData
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.recall.popular import PopularRecall

DAY = 86_400.0


class FixedChannel:
    """A channel returning fixed candidates, for wiring tests."""

    def __init__(self, name, items, personalized=False, fail=False):
        self.name, self.items, self.personalized, self.fail = name, items, personalized, fail

    def __call__(self, request, profile):
        if self.fail:
            raise RuntimeError("boom")
        return [
            Candidate(i, float(len(self.items) - k), self.name) for k, i in enumerate(self.items)
        ]


def _table(rows):
    users, items, stamps = zip(*rows, strict=True)
    return pa.table(
        {
            "user_id": list(users),
            "item_id": list(items),
            "rating": [5.0] * len(rows),
            "timestamp": [float(t) for t in stamps],
        }
    )


def test_popular_known_answer_with_decay():
    # "old" has 3 interactions 14 days before "new"'s 2: with a 7-day half-life 3/4 < 2.
    rows = [
        ("a", "old", 0),
        ("b", "old", 0),
        ("c", "old", 0),
        ("a", "new", 14 * DAY),
        ("b", "new", 14 * DAY),
    ]
    decayed = PopularRecall({"half_life_days": 7})
    decayed.train(TrainingData(table=_table(rows)))
    out = decayed(Request("x"), Profile("x"))
    assert [c.item_id for c in out] == ["new", "old"]
    assert out[1].score == pytest.approx(0.75)
    flat = PopularRecall({"half_life_days": 0})
    flat.train(TrainingData(table=_table(rows)))
    assert [c.item_id for c in flat(Request("x"), Profile("x"))] == ["old", "new"]


def test_popular_untrained_and_empty():
    with pytest.raises(NotTrainedError, match="popular is not trained"):
        PopularRecall()(Request("x"), Profile("x"))
    with pytest.raises(ValueError, match="no positive interactions"):
        PopularRecall().train(TrainingData(table=_table([("a", "i", 0)]).slice(0, 0)))


def test_popular_save_load_roundtrip(tmp_path):
    popular = PopularRecall()
    popular.train(TrainingData(table=_table([("a", "i", 0), ("b", "j", 0), ("c", "j", 0)])))
    popular.save(tmp_path)
    loaded = PopularRecall()
    loaded.load(tmp_path)
    assert [c.item_id for c in loaded(Request("u"), Profile("u"))] == ["j", "i"]


def test_merge_quotas_dedupe_and_filters():
    lookup = ItemLookup(
        info={
            "a": ("x", "c1"),
            "b": ("x", "c2"),
            "c": ("y", "c1"),
            "d": ("y", "c3"),
            "e": ("z", "c3"),
        },
        deleted={"gone"},
    )
    profile = Profile("u", seen={"a"}, negatives={"d"}, blocked_creators={"c2"})
    merge = Merge({"quota": {"one": 2}}, items=lookup)
    outputs = {
        "one": [
            Candidate(i, s, "one")
            for i, s in [
                ("a", 9),
                ("b", 8),
                ("gone", 7),
                ("c", 6),
                ("e", 5),
                ("d", 4),
                ("unknown", 3),
            ]
        ],
        "two": [Candidate("c", 1.0, "two"), Candidate("d", 1.0, "two")],
    }
    out = merge(Request("u"), profile, outputs)
    # a seen, b blocked creator, gone deleted, d not-interested, unknown not in the catalog
    assert [(c.item_id, c.channels) for c in out] == [("c", ["one", "two"]), ("e", ["one"])]
    keep_seen = Merge({"filter_seen": False}, items=lookup)
    assert "a" in [c.item_id for c in keep_seen(Request("u"), profile, outputs)]


def test_merge_keeps_what_a_channel_knew_about_its_pick():
    # the explore channel's inclusion probability is what off-policy estimators divide by
    pick = Candidate("x", 0.3, "explore", reasons=["explore:c1"], propensity=0.3)
    out = Merge()(Request("u"), Profile("u"), {"explore": [pick]})
    assert [(c.item_id, c.propensity, c.reasons) for c in out] == [("x", 0.3, ["explore:c1"])]


def test_pipeline_reasons_failures_and_consent():
    store = MemoryProfileStore()
    store.apply("u", ProfileDelta(recent=[("p1", 1.0)]))
    pipeline = Pipeline(
        [
            FixedChannel("personal", ["p1", "p2", "p3"], personalized=True),
            FixedChannel("broken", ["x"], fail=True),
            FixedChannel("popular", ["p2", "q1", "q2"]),
        ],
        Merge(),
        RecallOrderRanker(),
        profiles=store,
    )
    slate = pipeline(Request("u", n=3))
    assert [i.item_id for i in slate.items] == ["p2", "p3", "q1"]
    assert slate.items[0].reasons[:2] == ["recall:personal", "recall:popular"]
    assert [i.position for i in slate.items] == [0, 1, 2]
    assert slate.degraded and slate.stages["failed"] == ["broken"]
    assert pipeline.failures == {"broken": 1}
    assert slate.request_id

    store.apply("u", ProfileDelta(consent={Consent.PERSONALIZATION.value: False}))
    slate = pipeline(Request("u", n=3))
    assert slate.stages["skipped"] == ["personal"]
    assert all(i.channel == "popular" for i in slate.items)


def test_pipeline_rejects_bad_n():
    pipeline = Pipeline([FixedChannel("c", ["a"])], Merge(), RecallOrderRanker())
    with pytest.raises(ValueError, match="n must be positive"):
        pipeline(Request("u", n=0))


def test_an_empty_slate_says_why():
    store = MemoryProfileStore()
    nothing = Pipeline([FixedChannel("c", [])], Merge(), RecallOrderRanker(), profiles=store)
    slate = nothing(Request("u", n=3))
    assert slate.items == [] and "no recall channel" in slate.to_dict()["reason"]
    broken = Pipeline([FixedChannel("b", ["x"], fail=True)], Merge(), RecallOrderRanker())
    assert "failed: b" in broken(Request("u", n=3)).reason
    store.apply("u", ProfileDelta(recent=[("a", 1.0)]))
    seen = Pipeline([FixedChannel("c", ["a"])], Merge(), RecallOrderRanker(), profiles=store)
    assert "filtered" in seen(Request("u", n=3)).reason
    full = Pipeline([FixedChannel("c", ["z"])], Merge(), RecallOrderRanker(), profiles=store)
    assert "reason" not in full(Request("u", n=3)).to_dict()


def test_a_request_can_ask_for_nothing_personal():
    pipeline = Pipeline(
        [FixedChannel("personal", ["p1"], personalized=True), FixedChannel("popular", ["q1"])],
        Merge(),
        RecallOrderRanker(),
    )
    slate = pipeline(Request("u", n=3, context={"personalized": False}))
    assert slate.stages["skipped"] == ["personal"]
    assert [i.item_id for i in slate.items] == ["q1"]


def test_deadlines_come_from_config_and_reach_the_pipeline():
    from ecorec.core.config import ConfigError, DeadlinesConfig, load_config

    cfg = load_config(
        None, {"pipeline": {"deadlines_ms": {"recall": 30, "rank": 20, "rerank": 10}}}
    )
    assert cfg.pipeline.deadlines_ms == DeadlinesConfig(recall=30, rank=20, rerank=10)
    assert load_config(None).pipeline.deadlines_ms == DeadlinesConfig()
    with pytest.raises(ConfigError, match="deadlines_ms.recal"):
        load_config(None, {"pipeline": {"deadlines_ms": {"recal": 30}}})
    with pytest.raises(ConfigError, match="deadlines_ms.rank"):
        load_config(None, {"pipeline": {"deadlines_ms": {"rank": 0}}})
    pipeline = Pipeline(
        [FixedChannel("c", ["a"])],
        Merge(),
        RecallOrderRanker(),
        deadlines=cfg.pipeline.deadlines_ms,
    )
    assert pipeline.deadlines.rank == 20
    assert Pipeline([FixedChannel("c", ["a"])], Merge(), RecallOrderRanker()).deadlines.rank == 1000


class CountingStage:
    """A ranker or re-ranker that reverses the list and counts its calls."""

    def __init__(self, name):
        self.name, self.calls = name, 0

    def __call__(self, request, profile, candidates):
        self.calls += 1
        return candidates[::-1]


def test_the_light_path_is_the_non_personal_channels_through_the_filters_in_merge_order():
    store = MemoryProfileStore()
    store.apply("u", ProfileDelta(recent=[("q1", 1.0)], negatives={"q3"}))
    personal = FixedChannel("personal", ["p1", "p2"], personalized=True)
    ranker, reranker = CountingStage("rank"), CountingStage("rerank")
    pipeline = Pipeline(
        [personal, FixedChannel("popular", ["q1", "q2", "q3", "q4"]), FixedChannel("pool", ["c1"])],
        Merge(),
        ranker,
        [reranker],
        profiles=store,
    )
    slate = pipeline.light(Request("u", n=5))
    # q1 seen and q3 not interested are filtered as on the full path; merge order, unranked
    assert [i.item_id for i in slate.items] == ["q2", "q4", "c1"]
    assert (ranker.calls, reranker.calls) == (0, 0)
    assert slate.degraded and slate.stages["fallbacks"] == ["overload"]
    assert slate.stages["skipped"] == ["personal"]
    assert slate.stages["rerank_skipped"] == ["rerank"]
    assert slate.request_id and slate.items[0].reasons == ["recall:popular"]
    full = pipeline(Request("u", n=5))
    assert (ranker.calls, reranker.calls) == (1, 1) and not full.degraded
    assert pipeline.light(Request("u", n=5), reason="drain").stages["fallbacks"] == ["drain"]


def test_the_light_path_survives_a_broken_channel_and_says_why_it_is_empty():
    pipeline = Pipeline(
        [FixedChannel("personal", ["p1"], personalized=True), FixedChannel("b", ["x"], fail=True)],
        Merge(),
        RecallOrderRanker(),
    )
    slate = pipeline.light(Request("u", n=3))
    assert slate.items == [] and "failed: b" in slate.reason
    assert pipeline.failures == {"b": 1}
    with pytest.raises(ValueError, match="n must be positive"):
        pipeline.light(Request("u", n=0))
