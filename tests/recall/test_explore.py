"""Explore: quality-weighted samples from clusters the user never engaged with."""

from collections import Counter

import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.recall.explore import ExploreRecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import data, items

CATALOG = items(
    [
        ("m1", "music", 0.9),
        ("m2", "music", 0.8),
        ("n1", "news", 0.5),
        ("n2", "news", 0.3),
        ("s1", "sports", 0.6),
        ("s2", "sports", 0.2),
        ("a1", "art", 0.4),
        ("low", "art", 0.05),
    ]
)
ROWS = [("u", "m1", 1), ("v", "n1", 2)]
# engaged: music (recent m1) and news (interest); open: sports (s1 .6, s2 .2) and art (a1 .4)
# each open cluster has mass 1/2: p(s1) = .375, p(s2) = .125, p(a1) = .5; 3 draws
EXPECTED = {"s1": 1 - 0.625**3, "s2": 1 - 0.875**3, "a1": 1 - 0.5**3}


@pytest.fixture
def explore(tmp_path):
    channel = ExploreRecall({"n": 3, "clusters": "category", "min_quality": 0.1})
    channel.train(data(tmp_path, CATALOG, ROWS))
    return channel


def _profile():
    return Profile("u", recent=[("m1", 1.0)], seen={"m1"}, interests={"news": 2.0})


def test_only_unengaged_clusters_with_exact_propensities(explore):
    out = explore(Request("u", request_id="r1"), _profile())
    assert out and {c.item_id for c in out} <= set(EXPECTED)  # never music, news or "low"
    for c in out:
        assert c.propensity == pytest.approx(EXPECTED[c.item_id])
        assert c.score == c.propensity
        assert c.reasons == [f"explore:{'art' if c.item_id == 'a1' else 'sports'}"]


def test_propensity_is_the_inclusion_frequency(explore):
    runs = 3000
    counts = Counter(
        c.item_id
        for r in range(runs)
        for c in explore(Request("u", request_id=f"r{r}"), _profile())
    )
    for item_id, expected in EXPECTED.items():
        assert counts[item_id] / runs == pytest.approx(expected, abs=0.03)


def test_requests_replay_and_differ(explore):
    first = [c.item_id for c in explore(Request("u", request_id="same"), _profile())]
    again = [c.item_id for c in explore(Request("u", request_id="same"), _profile())]
    assert first == again
    outputs = {
        tuple(sorted(c.item_id for c in explore(Request("u", request_id=f"q{k}"), _profile())))
        for k in range(30)
    }
    assert len(outputs) > 1


def test_a_new_engagement_closes_its_cluster(explore):
    profile = _profile()
    profile.recent.append(("s2", 5.0))  # the user just watched something from sports
    out = explore(Request("u", request_id="r1"), profile)
    assert [c.item_id for c in out] == ["a1"]
    assert out[0].propensity == pytest.approx(1.0)
    profile.recent.append(("a1", 6.0))
    assert explore(Request("u", request_id="r1"), profile) == []


def test_survey_counts_as_engagement(explore):
    request = Request("new", request_id="r", context={"interests": ["sports", "art", "news"]})
    assert {c.item_id for c in explore(request, Profile("new"))} <= {"m1", "m2"}


TOPICS = {
    "music": ("guitar", "piano", "drums"),
    "cooking": ("pasta", "bread", "soup"),
    "travel": ("beach", "mountain", "city"),
}


def _topic_catalog():
    return [
        Item(f"{topic}{k}", category=topic, tags=(words[k % 3], words[(k + 1) % 3]), quality=0.5)
        for topic, words in TOPICS.items()
        for k in range(8)
    ]


@pytest.mark.parametrize("clusters", ["kmeans", "lda"])
def test_learned_clusters_never_return_an_engaged_cluster(tmp_path, clusters):
    channel = ExploreRecall({"n": 20, "clusters": clusters, "n_clusters": 3, "dim": 0})
    channel.train(data(tmp_path, _topic_catalog(), [("u", "music0", 1)]))
    profile = Profile("u", recent=[("music0", 1.0), ("music3", 2.0)], seen={"music0", "music3"})
    engaged = channel.engaged(Request("u"), profile)
    assert engaged
    for r in range(20):
        out = channel(Request("u", request_id=str(r)), profile)
        assert out
        assert not set(channel._cluster_of([c.item_id for c in out])) & engaged
    if clusters == "kmeans":  # well-separated metadata: the clusters are the topics
        groups = {
            topic: set(channel._cluster_of([f"{topic}{k}" for k in range(8)])) for topic in TOPICS
        }
        assert all(len(g) == 1 for g in groups.values())
        assert len(set.union(*groups.values())) == 3
        out = channel(Request("u", request_id="x"), profile)
        assert not any(c.item_id.startswith("music") for c in out)


def test_save_load_replays(explore, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    explore.save(folder)
    loaded = ExploreRecall(explore.config)
    loaded.load(folder)
    for r in range(5):
        request = Request("u", request_id=f"r{r}")
        assert [(c.item_id, c.propensity) for c in loaded(request, _profile())] == [
            (c.item_id, c.propensity) for c in explore(request, _profile())
        ]


class TestExploreContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return ExploreRecall({"n": 30})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data
