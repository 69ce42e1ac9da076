"""The metadata and ecosystem channels together in the one Pipeline, on the tiny platform."""

import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Consent, ProfileDelta
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles import MemoryProfileStore
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.content import ContentRecall
from ecorec.recall.curated import CuratedRecall
from ecorec.recall.explore import ExploreRecall
from ecorec.recall.long_tail import LongTailRecall
from ecorec.recall.merge import Merge
from ecorec.recall.novice import NoviceCreatorRecall
from ecorec.recall.popular import PopularRecall
from ecorec.testing.recall import profile_for, some_user


@pytest.fixture(scope="module")
def channels(tiny_training_data):
    out = [
        PopularRecall({"n": 50, "mode": {"all": 1.0, "category": 1.0, "segment": 1.0}}),
        ContentRecall({"n": 50, "ann": {"kind": "flat"}}),
        ExploreRecall({"n": 30}),
        LongTailRecall({"n": 30, "min_quality": 0.3}),
        NoviceCreatorRecall({"n": 30, "max_age_days": 30, "min_quality": 0.2}),
        CuratedRecall({"n": 10}),
    ]
    for channel in out:
        channel.train(tiny_training_data)
    return out


def test_not_interested_never_comes_back_from_any_channel(channels, tiny_training_data):
    user = some_user(tiny_training_data)
    profile = profile_for(tiny_training_data, user)
    item = tiny_training_data.catalog.get(Item, [profile.recent_item_ids[-1]])
    category = next(iter(item.values())).category
    profile.interests = {category: 3.0}
    request = Request(user, request_id="r1", context={"interests": [category]})
    first = {c.name: {x.item_id for x in c(request, profile)} for c in channels}
    assert all(first[name] for name in ("popular", "content", "explore", "long_tail"))
    rejected = {next(iter(ids)) for ids in first.values() if ids}
    profile.negatives |= rejected  # the feedback is recorded
    for channel in channels:
        assert not {c.item_id for c in channel(request, profile)} & rejected, channel.name


def test_pipeline_serves_every_channel_and_respects_consent(channels, tiny_training_data):
    user = some_user(tiny_training_data)
    store = MemoryProfileStore()
    known = profile_for(tiny_training_data, user)
    store.apply(user, ProfileDelta(recent=known.recent, interests={"news": 2.0}))
    lookup = ItemLookup.from_catalog(tiny_training_data.catalog)
    pipeline = Pipeline(channels, Merge(items=lookup), RecallOrderRanker(), profiles=store)
    slate = pipeline(Request(user, n=20))
    assert not slate.degraded
    assert set(slate.stages["recall"]) == {c.name for c in channels}
    assert slate.items and not {i.item_id for i in slate.items} & store.get(user).seen

    store.apply(user, ProfileDelta(consent={Consent.PERSONALIZATION.value: False}))
    slate = pipeline(Request(user, n=20))
    assert set(slate.stages["skipped"]) == {"content", "explore", "long_tail", "novice_creator"}
    assert {i.channel for i in slate.items} <= {"popular", "curated"}
    assert slate.items

    newcomer = pipeline(Request("brand-new", n=10, context={"interests": ["music"]}))
    assert not newcomer.degraded and newcomer.items
