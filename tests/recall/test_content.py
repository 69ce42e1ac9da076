"""Content-based cold start: metadata matched to declared and inferred interests."""

import numpy as np
import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.content import ContentRecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import catalog, data

CATALOG = [
    Item("m1", category="music", tags=("pop",)),
    Item("m2", category="music", tags=("jazz",)),
    Item("m_new", category="music", tags=("pop",)),  # nobody has interacted with it yet
    Item("n1", category="news", tags=("politics",)),
    Item("n2", category="news", tags=("economy",)),
    Item("s1", category="sports", tags=("football",)),
    Item("s2", category="sports", tags=("tennis",)),
    Item("t1", category="tech", attrs={"description": "quantum computing explained"}),
    Item("gone", category="news", deleted=True),
    Item("bare"),  # no metadata at all: cannot be matched, not indexed
]
ROWS = [("u", "m1", 1), ("u", "n1", 2), ("v", "s1", 3), ("v", "m2", 4)]


def _ids(out):
    return [c.item_id for c in out]


@pytest.fixture
def content(tmp_path):
    channel = ContentRecall({"n": 3, "ann": {"kind": "flat"}})
    channel.train(data(tmp_path, CATALOG, ROWS))
    return channel


def test_user_without_history_is_matched_on_declared_interests(content):
    request = Request("newcomer", context={"interests": ["news"]})
    out = content(request, Profile("newcomer"))
    # only the live news items share a word with "news" (the deleted one is not indexed)
    assert sorted(_ids(out)) == ["n1", "n2"]
    assert out[0].score == pytest.approx(out[1].score)
    assert out[1].score > 0


def test_item_without_interactions_is_served(content):
    out = content(Request("x", context={"interests": ["pop"]}), Profile("x"))
    assert set(_ids(out)[:2]) == {"m1", "m_new"}  # the two "pop" items, m_new never seen


def test_text_attrs_and_mapping_surveys(content):
    out = content(Request("x", context={"interests": {"quantum": 2.0}}), Profile("x"))
    assert _ids(out)[:1] == ["t1"]
    assert content(Request("x", context={"interests": ["knitting"]}), Profile("x")) == []


def test_profile_interests_and_a_fresh_click_move_the_next_request(content):
    profile = Profile("u", interests={"sports": 3.0})
    assert set(_ids(content(Request("u"), profile))[:2]) == {"s1", "s2"}
    cold = Profile("w")
    assert content(Request("w"), cold) == []  # nothing known yet: nothing to match
    cold.recent.append(("n1", 10.0))  # a click recorded a moment ago
    cold.seen.add("n1")
    assert _ids(content(Request("w"), cold))[0] == "n2"


def test_seen_and_negatives_are_excluded(content, tmp_path):
    profile = Profile("u", interests={"news": 1.0}, seen={"n1"}, negatives={"n2"})
    assert not {"n1", "n2"} & set(_ids(content(Request("u"), profile)))
    keep = ContentRecall({"n": 3, "exclude_seen": False, "ann": {"kind": "flat"}})
    keep.train(data(tmp_path, CATALOG, ROWS))
    assert "n1" in _ids(keep(Request("u"), profile))
    assert "n2" not in _ids(keep(Request("u"), profile))


def test_identical_metadata_shares_one_vector_served_by_quality(tmp_path):
    same = [Item(f"i{k}", category="music", quality=k / 10) for k in range(6)]
    channel = ContentRecall({"n": 4})  # default HNSW index over the distinct vectors
    channel.train(data(tmp_path, [*same, Item("x", category="news")], [("u", "i0", 1)]))
    assert len(channel.index) == 2
    profile = Profile("u", seen={"i5"})
    out = channel(Request("u", context={"interests": ["music"]}), profile)
    assert _ids(out) == ["i4", "i3", "i2", "i1"]  # best quality first, seen i5 skipped
    profile.seen.update({"i4", "i3", "i1"})  # seen members are skipped, not the group
    assert _ids(channel(Request("u", context={"interests": ["music"]}), profile)) == ["i2", "i0"]
    # an item sharing no word with the interests (cosine 0) is no match
    assert "x" not in _ids(channel(Request("u", context={"interests": ["music"]}), Profile("u")))


def test_svd_path_keeps_topics_apart(tmp_path):
    words = ["alpha", "beta", "gamma"]
    catalog_items = [
        Item(f"{w}{k}", category=w, tags=(f"{w}_tag{k % 3}",), title=f"{w} story {k}")
        for w in words
        for k in range(6)
    ]
    channel = ContentRecall({"n": 6, "dim": 4, "ann": {"kind": "flat"}})
    channel.train(data(tmp_path, catalog_items, [("u", "alpha0", 1)]))
    assert channel.text.components is not None and channel.text.dim == 4
    out = channel(Request("x", context={"interests": ["beta"]}), Profile("x"))
    assert all(i.startswith("beta") for i in _ids(out))


def test_catalog_without_metadata_fails_clearly(tmp_path):
    training = TrainingData(
        catalog=catalog(tmp_path, [Item("a"), Item("b")]), table=data(tmp_path, [], ROWS).table
    )
    with pytest.raises(ValueError, match="no metadata"):
        ContentRecall().train(training)
    with pytest.raises(ValueError, match="item metadata"):
        ContentRecall().train(TrainingData(table=data(tmp_path, [], ROWS).table))


def test_one_item_catalog_works(tmp_path):
    channel = ContentRecall({"ann": {"kind": "flat"}})
    channel.train(data(tmp_path, [Item("only", category="music")], [("u", "only", 1)]))
    out = channel(Request("x", context={"interests": ["music"]}), Profile("x"))
    assert _ids(out) == ["only"]
    assert channel.user_vector(Request("x"), Profile("x")).any() == np.False_


class TestContentContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return ContentRecall({"n": 50})  # default HNSW index

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


def test_movielens_genres_and_history(ml100k):
    from ecorec.data.datasets import load_dataset

    dataset = load_dataset(str(ml100k), "recbole")
    channel = ContentRecall({"n": 10, "dim": 32})
    channel.train(TrainingData(table=dataset.interactions, items=dataset.items))
    tags = {i.item_id: i.tags for i in dataset.items}
    survey = Request("x", context={"interests": ["Documentary"]})
    assert all("Documentary" in tags[c.item_id] for c in channel(survey, Profile("x")))
    horror = [i.item_id for i in dataset.items if i.category == "Horror"][:5]
    profile = Profile("x", recent=[(h, 1.0) for h in horror], seen=set(horror))
    out = channel(Request("x"), profile)
    assert sum("Horror" in tags[c.item_id] for c in out) >= 8
