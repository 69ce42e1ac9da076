"""Popular recall per category and per segment: known answers and the contract in mix mode."""

import pytest

from ecorec.core.contracts import Request
from ecorec.core.profile import Consent, Profile
from ecorec.recall.popular import PopularRecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import data, items, users

CATALOG = items(
    [
        ("m1", "music", None),
        ("m2", "music", None),
        ("m3", "music", None),
        ("n1", "news", None),
        ("n2", "news", None),
        ("h1", "sports", None),
        ("c1", "sports", None),
    ]
)
PEOPLE = users([("heavy1", "heavy"), ("heavy2", "heavy"), ("cas1", "casual"), ("cas2", "casual")])
# overall popularity: n1 6 > n2 5 > m1 4 > m2 3 > m3 2 > h1 2 > c1 2 ... (no decay)
ROWS = (
    [(f"x{k}", "n1", 0) for k in range(6)]
    + [(f"x{k}", "n2", 0) for k in range(5)]
    + [(f"x{k}", "m1", 0) for k in range(4)]
    + [(f"x{k}", "m2", 0) for k in range(3)]
    + [(f"x{k}", "m3", 0) for k in range(2)]
    + [("heavy1", "h1", 0), ("heavy2", "h1", 0), ("cas1", "c1", 0), ("cas2", "c1", 0)]
)


def _ids(out):
    return [c.item_id for c in out]


@pytest.fixture
def training(tmp_path):
    return data(tmp_path, CATALOG + PEOPLE, ROWS)


def test_category_mode_follows_interest_proportions(training):
    popular = PopularRecall({"mode": "category", "n": 4, "half_life_days": 0})
    popular.train(training)
    out = popular(Request("u"), Profile("u", interests={"music": 3.0, "news": 1.0, "pets": 9}))
    # 3 music + 1 news (pets has no list); interleaved: m1 and n1 lead their lists
    assert _ids(out) == ["m1", "n1", "m2", "m3"]
    assert [round(c.score, 3) for c in out] == [1.0, 1.0, 0.667, 0.333]
    assert out[0].reasons == ["popular:category:music"]
    assert out[1].reasons == ["popular:category:news"]


def test_category_mode_falls_back_to_overall(training):
    popular = PopularRecall({"mode": "category", "n": 3, "half_life_days": 0})
    popular.train(training)
    assert _ids(popular(Request("u"), Profile("u"))) == ["n1", "n2", "m1"]
    # negative interests do not count; a short list is filled from the overall list
    out = popular(Request("u"), Profile("u", interests={"news": 2.0, "music": -4.0}))
    # the news list has 2 items for 3 slots: the vacancy is filled from the overall list
    assert _ids(out) == ["n1", "n2", "m1"]
    assert [round(c.score, 3) for c in out] == [1.0, 0.667, 0.333]
    assert out[2].reasons == ["popular:all"]


def test_category_mode_is_real_time_and_reads_the_survey(training):
    popular = PopularRecall({"mode": "category", "n": 2, "half_life_days": 0})
    popular.train(training)
    profile = Profile("u", interests={"news": 1.0})
    assert _ids(popular(Request("u"), profile)) == ["n1", "n2"]
    profile.interests["music"] = 10.0  # a burst of music clicks recorded a moment ago
    assert _ids(popular(Request("u"), profile)) == ["m1", "m2"]
    survey = Request("new", context={"interests": ["sports"]})
    assert set(_ids(popular(survey, Profile("new")))) == {"h1", "c1"}


def test_segment_mode_uses_entity_then_context(training):
    popular = PopularRecall({"mode": "segment", "n": 1, "half_life_days": 0})
    popular.train(training)
    assert _ids(popular(Request("heavy1"), Profile("heavy1"))) == ["h1"]
    assert _ids(popular(Request("cas1"), Profile("cas1"))) == ["c1"]
    assert _ids(popular(Request("heavy1", context={"segment": "casual"}), Profile("x"))) == ["c1"]
    # a user with no segment, or a segment nobody had, gets the overall list
    assert _ids(popular(Request("stranger"), Profile("stranger"))) == ["n1"]
    assert _ids(popular(Request("u", context={"segment": "vip"}), Profile("u"))) == ["n1"]


def test_without_consent_only_stated_context_is_used(training):
    popular = PopularRecall(
        {"mode": {"category": 1.0, "segment": 1.0}, "n": 2, "half_life_days": 0}
    )
    popular.train(training)
    allowed = Profile("heavy1", interests={"music": 1.0})
    assert _ids(popular(Request("heavy1"), allowed)) == ["m1", "h1"]
    refused = Profile(
        "heavy1", interests={"music": 1.0}, consent={Consent.PERSONALIZATION.value: False}
    )
    assert _ids(popular(Request("heavy1"), refused)) == ["n1", "n2"]
    stated = Request("heavy1", context={"interests": ["music"], "segment": "heavy"})
    assert _ids(popular(stated, refused)) == ["m1", "h1"]


def test_mix_splits_n_and_skips_seen_and_negatives(training):
    popular = PopularRecall({"mode": {"all": 1.0, "category": 1.0}, "n": 4, "half_life_days": 0})
    popular.train(training)
    profile = Profile("u", interests={"music": 1.0}, seen={"m1"}, negatives={"n2"})
    out = popular(Request("u"), profile)
    # 2 from the music list (m1 seen), 2 overall: n1, (n2 rejected, m1 seen, m2 m3 taken), c1
    # (c1, h1 and m3 tie at 2 interactions; ids break ties)
    assert _ids(out) == ["m2", "n1", "m3", "c1"]
    assert [c.reasons[0] for c in out] == [
        "popular:category:music",
        "popular:all",
        "popular:category:music",
        "popular:all",
    ]


def test_deleted_items_are_not_in_category_lists(tmp_path):
    from ecorec.core.entities import Item

    catalog = [Item("a", category="music", deleted=True), Item("b", category="music")]
    popular = PopularRecall({"mode": "category", "n": 2, "half_life_days": 0})
    popular.train(data(tmp_path, catalog, [("u", "a", 0), ("v", "a", 0), ("u", "b", 0)]))
    out = popular(Request("x"), Profile("x", interests={"music": 1.0}))
    assert _ids(out) == ["b"]  # the catalog says a is deleted: in no list at all
    overall = PopularRecall({"n": 2, "half_life_days": 0})
    overall.train(data(tmp_path, catalog, [("u", "a", 0), ("v", "a", 0), ("u", "b", 0)]))
    assert _ids(overall(Request("x"), Profile("x"))) == ["b"]


def test_save_load_keeps_lists_and_reads_old_models(training, tmp_path):
    popular = PopularRecall({"mode": {"category": 1.0, "segment": 1.0}, "n": 3})
    popular.train(training)
    folder = tmp_path / "model"
    folder.mkdir()
    metrics = popular.save(folder)
    assert metrics == {"items": 7, "categories": 3, "segments": 2}
    loaded = PopularRecall(popular.config)
    loaded.load(folder)
    profile = Profile("heavy1", interests={"news": 1.0})
    assert _ids(loaded(Request("heavy1"), profile)) == _ids(popular(Request("heavy1"), profile))
    for path in folder.glob("*"):
        if path.name not in ("item_ids.npy", "scores.npy", "meta.json"):
            path.unlink()  # what a model saved before the per-category lists looks like
    old = PopularRecall(popular.config)
    old.load(folder)
    assert _ids(old(Request("heavy1"), profile)) == ["n1", "n2", "m1"]


def test_bad_mode_mix_is_rejected():
    with pytest.raises(ValueError, match="positive sum"):
        PopularRecall({"mode": {"all": 0.0}})
    with pytest.raises(ValueError):
        PopularRecall({"mode": "trending"})


class TestPopularCategorySegmentContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return PopularRecall({"n": 50, "mode": {"all": 1.0, "category": 2.0, "segment": 1.0}})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data
