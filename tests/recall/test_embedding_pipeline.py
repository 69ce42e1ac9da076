"""ALS and LightGCN in the one Pipeline, on the tiny platform: real time, consent, deletions."""

import pytest

from ecorec.core.contracts import Request
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Consent, ProfileDelta
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles import MemoryProfileStore
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.graph import LightGCNRecall
from ecorec.recall.merge import Merge
from ecorec.recall.mf import ALSRecall
from ecorec.recall.popular import PopularRecall
from ecorec.testing.recall import profile_for, some_user


@pytest.fixture(scope="module")
def channels(tiny_training_data):
    out = [
        ALSRecall({"n": 50, "factors": 8, "iterations": 5}),
        LightGCNRecall({"n": 50, "embedding_size": 8, "epochs": 3, "batch_size": 1024}),
        PopularRecall({"n": 20}),
    ]
    for channel in out:
        channel.train(tiny_training_data)
    return out


@pytest.fixture(scope="module")
def lookup(tiny_training_data):
    return ItemLookup.from_catalog(tiny_training_data.catalog)


def test_deleted_items_are_not_indexed(channels, lookup):
    for channel in channels[:2]:
        assert len(channel.index) > 0
        assert not set(channel.index.item_ids.tolist()) & lookup.deleted


def test_a_click_recorded_now_changes_the_next_request(channels, tiny_training_data):
    user = some_user(tiny_training_data)
    store = MemoryProfileStore()
    known = profile_for(tiny_training_data, user)
    store.apply(user, ProfileDelta(recent=known.recent))
    for channel in channels[:2]:
        before = [c.item_id for c in channel(Request(user), store.get(user))]
        clicked = before[:5]
        newest = max(ts for _, ts in store.get(user).recent)
        store.apply(user, ProfileDelta(recent=[(i, newest + 1 + k) for k, i in enumerate(clicked)]))
        after = [c.item_id for c in channel(Request(user), store.get(user))]
        assert after != before, channel.name
        assert not set(after) & set(clicked)  # consumed now: excluded as seen


def test_pipeline_serves_both_and_respects_consent(channels, tiny_training_data, lookup):
    user = some_user(tiny_training_data)
    store = MemoryProfileStore()
    store.apply(user, ProfileDelta(recent=profile_for(tiny_training_data, user).recent))
    pipeline = Pipeline(channels, Merge(items=lookup), RecallOrderRanker(), profiles=store)
    slate = pipeline(Request(user, n=20))
    assert not slate.degraded
    assert set(slate.stages["recall"]) == {"als", "lightgcn", "popular"}
    assert {i.channel for i in slate.items} & {"als", "lightgcn"}

    store.apply(user, ProfileDelta(consent={Consent.PERSONALIZATION.value: False}))
    slate = pipeline(Request(user, n=20))
    assert set(slate.stages["skipped"]) == {"als", "lightgcn"}
    assert {i.channel for i in slate.items} == {"popular"}

    newcomer = pipeline(Request("brand-new", n=10))
    assert not newcomer.degraded and newcomer.items
