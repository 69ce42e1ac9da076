"""Novice creators: fresh, good-enough items of creators in the novice stage only."""

import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Creator, CreatorStage, Item
from ecorec.core.profile import Profile
from ecorec.recall.novice import NoviceCreatorRecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import DAY, data

NOW = 100 * DAY
CREATORS = [
    Creator("new1", stage=CreatorStage.NOVICE),
    Creator("new2", stage=CreatorStage.NOVICE),
    Creator("mid", stage=CreatorStage.MID),
    Creator("star", stage=CreatorStage.HEAD),
]


def _item(item_id, creator, category, quality, age_days, **kw):
    return Item(
        item_id,
        creator_id=creator,
        category=category,
        quality=quality,
        created_at=NOW - age_days * DAY,
        **kw,
    )


CATALOG = [
    _item("fresh_music", "new1", "music", 0.8, 2),
    _item("fresh_news", "new2", "news", 0.6, 1),
    _item("fresh_news_2", "new2", "news", 0.5, 3),
    _item("just_out", "new1", "music", 0.7, -0.5),  # published after the training data ends
    _item("poor", "new1", "music", 0.1, 1),  # below the quality bar
    _item("old", "new1", "music", 0.9, 30),  # not fresh
    _item("by_mid", "mid", "music", 0.9, 1),  # not a novice
    _item("by_star", "star", "news", 0.9, 1),
    _item("removed", "new2", "news", 0.9, 1, deleted=True),
    Item("orphan", category="music", quality=0.9, created_at=NOW),  # no creator
]
ROWS = [("u", "by_star", NOW), ("v", "by_mid", NOW - DAY)]


def _ids(out):
    return [c.item_id for c in out]


@pytest.fixture
def novice(tmp_path):
    channel = NoviceCreatorRecall({"n": 10, "max_age_days": 14, "min_quality": 0.3})
    channel.train(data(tmp_path, CREATORS + CATALOG, ROWS))
    return channel


def test_only_fresh_items_of_novice_creators(novice):
    out = novice(Request("x"), Profile("x"))
    assert _ids(out) == ["fresh_music", "just_out", "fresh_news", "fresh_news_2"]  # by quality
    assert all(c.reasons[0] == "novice_creator" for c in out)
    assert out[0].reasons[1:] == ["novice_creator:quality", "creator:new1"]


def test_matched_to_interests(novice):
    profile = Profile("u", interests={"news": 5.0, "music": -1.0})
    out = novice(Request("u"), profile)
    assert _ids(out)[:2] == ["fresh_news", "fresh_news_2"]
    assert out[0].reasons[1] == "novice_creator:category:news"
    survey = Request("new", context={"interests": ["music"]})
    assert _ids(novice(survey, Profile("new")))[:2] == ["fresh_music", "just_out"]


def test_seen_and_negatives(novice):
    profile = Profile("u", seen={"fresh_music"}, negatives={"fresh_news"})
    assert _ids(novice(Request("u"), profile)) == ["just_out", "fresh_news_2"]


def test_age_at_request_time(tmp_path):
    channel = NoviceCreatorRecall({"age_at_request": True, "max_age_days": 14})
    channel.train(data(tmp_path, CREATORS + CATALOG, ROWS))
    # two weeks later everything aged out; at NOW the item published later is not out yet
    assert channel(Request("x", ts=NOW + 20 * DAY), Profile("x")) == []
    assert "just_out" not in _ids(channel(Request("x", ts=NOW), Profile("x")))
    assert "just_out" in _ids(channel(Request("x", ts=NOW + DAY), Profile("x")))


def test_no_novice_creator_means_no_candidates(tmp_path):
    channel = NoviceCreatorRecall()
    channel.train(data(tmp_path, [CREATORS[3], CATALOG[7]], ROWS))
    assert channel(Request("x"), Profile("x")) == []


class TestNoviceCreatorContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return NoviceCreatorRecall({"n": 50, "max_age_days": 30, "min_quality": 0.2})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data
