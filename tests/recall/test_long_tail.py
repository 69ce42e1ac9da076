"""Long-tail: good items outside the exposure head, matched to interests."""

import numpy as np
import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.long_tail import LongTailRecall, _head
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import data, event_data, items, table

CATALOG = items(
    [
        ("h1", "music", 0.9),  # head: most exposed
        ("h2", "news", 0.8),  # head
        ("g1", "music", 0.7),
        ("g2", "news", 0.95),
        ("g3", "music", 0.6),
        ("b1", "music", 0.2),  # tail but poor
        ("b2", "news", 0.4),  # tail but poor
        ("s1", "sports", 0.55),
        ("s2", "sports", 0.1),
        ("s3", "sports", 0.5),  # exactly at the bar: kept
    ]
)
COUNTS = {"h1": 10, "h2": 8, "g1": 1, "g2": 0, "g3": 2, "b1": 3, "b2": 1, "s1": 1, "s3": 1}
ROWS = [(f"u{k}", item, k) for item, count in COUNTS.items() for k in range(count)]


def _ids(out):
    return [c.item_id for c in out]


@pytest.fixture
def tail(tmp_path):
    channel = LongTailRecall({"n": 10})
    channel.train(data(tmp_path, [*CATALOG, Item("gone", category="news", deleted=True)], ROWS))
    return channel


def test_returns_exactly_the_planted_under_exposed_gems(tail):
    out = tail(Request("x"), Profile("x"))
    assert _ids(out) == ["g2", "g1", "g3", "s1", "s3"]  # quality order without interests
    assert [round(c.score, 2) for c in out] == [1.0, 0.9, 0.8, 0.7, 0.6]
    assert out[0].reasons == ["long_tail:quality"]
    assert tail.source == "interaction"


def test_matched_to_interests_in_proportion(tail):
    tail.config = tail.Config(n=2)
    assert _ids(tail(Request("u"), Profile("u", interests={"music": 1.0}))) == ["g1", "g3"]
    tail.config = tail.Config(n=4)
    both = Profile("u", interests={"music": 1.0, "news": 1.0})
    # music fills 2; news has one gem for 2 slots: the vacancy goes to the overall list (s1)
    out = tail(Request("u"), both)
    assert _ids(out) == ["g1", "g2", "g3", "s1"]
    assert out[1].reasons == ["long_tail:category:news"]
    survey = Request("new", context={"interests": ["sports"]})
    assert _ids(tail(survey, Profile("new")))[:2] == ["s1", "s3"]


def test_seen_and_negatives(tail):
    profile = Profile("u", seen={"g2"}, negatives={"g1"})
    assert _ids(tail(Request("u"), profile)) == ["g3", "s1", "s3"]


def test_impressions_define_exposure_when_present(tmp_path):
    catalog = items([(f"i{k}", "music", 0.8) for k in range(1, 6)])
    impressions = {"i1": 100, "i2": 50, "i3": 5, "i5": 2}
    events = [(f"v{k}", "impression", item, k) for item, n in impressions.items() for k in range(n)]
    events += [(f"v{k}", "click", "i3", k) for k in range(40)]  # most clicked, rarely shown
    channel = LongTailRecall({"n": 10})
    channel.train(event_data(tmp_path, catalog, events))
    assert channel.source == "impression"
    # 5 items: the head is the top 1 by impressions (i1); i3 stays in the tail despite clicks
    assert sorted(_ids(channel(Request("x"), Profile("x")))) == ["i2", "i3", "i4", "i5"]


def test_quality_is_derived_and_smoothed_without_item_quality():
    ratings = {"pop1": [3] * 20, "pop2": [3] * 15, "good": [5] * 5, "bad": [1] * 5}
    ratings |= {"lucky": [5], "meh": [3] * 3}
    rows = [(f"u{k}", item, k, r) for item, rs in ratings.items() for k, r in enumerate(rs)]
    training = TrainingData(table=table(rows))
    # head = pop1, pop2; smoothed means rank bad < meh < lucky < good among the derived items
    strict = LongTailRecall({"min_quality": 0.9})
    strict.train(training)
    assert _ids(strict(Request("x"), Profile("x"))) == ["good"]
    loose = LongTailRecall({"min_quality": 0.7})
    loose.train(training)
    assert _ids(loose(Request("x"), Profile("x"))) == ["good", "lucky"]


def test_head_cut_ties_and_one_item():
    assert _head(np.array([4.0, 4.0, 1.0, 0.0, 0.0]), 0.2).tolist() == [True, True] + [False] * 3
    one = LongTailRecall({"min_quality": 0.0})
    one.train(TrainingData(table=table([("u", "only", 1)])))
    assert _ids(one(Request("x"), Profile("x"))) == []  # its only item is the head


class TestLongTailContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return LongTailRecall({"n": 50, "min_quality": 0.3})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data
