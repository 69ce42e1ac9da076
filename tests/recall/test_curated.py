"""Curated pools: windows, segments, position hints, validation and refresh."""

import logging

import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import CuratedPool, Item, User
from ecorec.core.profile import Consent, Profile
from ecorec.data.catalog import SQLCatalog
from ecorec.data.training import TrainingData
from ecorec.recall.curated import CuratedRecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.metadata_helpers import catalog, table

ITEMS = [Item(i, category="music") for i in ("a", "b", "c", "d", "e", "f")]
PEOPLE = [User("heavy_user", segment="heavy"), User("casual_user", segment="casual")]
POOLS = [
    CuratedPool("summer", "Summer", ("a", "b"), starts_at=100.0, ends_at=200.0),
    CuratedPool("vip", "VIP", ("c", "a"), starts_at=0.0, segments=("heavy",), position_hint=2),
    CuratedPool("launch", "Launch", ("d",), starts_at=50.0, position_hint=0),
    CuratedPool("later", "Later", ("e",), starts_at=1000.0),
    CuratedPool("bad_item", "Typo", ("a", "nope"), starts_at=0.0),
    CuratedPool("bad_window", "Backwards", ("f",), starts_at=300.0, ends_at=100.0),
    CuratedPool("bad_hint", "Hint", ("f",), starts_at=0.0, position_hint=-1),
]


def _ids(out):
    return [c.item_id for c in out]


@pytest.fixture
def store(tmp_path):
    return catalog(tmp_path, ITEMS + PEOPLE + POOLS)


@pytest.fixture
def curated(store, caplog):
    channel = CuratedRecall()
    with caplog.at_level(logging.WARNING, logger="ecorec.recall.curated"):
        channel.train(TrainingData(catalog=store, table=table([("u", "a", 1)])))
    return channel


def test_invalid_pools_are_skipped_with_a_warning_naming_them(curated, caplog):
    assert sorted(p.pool_id for p in curated.pools) == ["later", "launch", "summer", "vip"]
    warned = " ".join(r.getMessage() for r in caplog.get_records("setup"))
    for pool_id in ("bad_item", "bad_window", "bad_hint"):
        assert pool_id in warned
    assert "nope" in warned


def test_windows(curated):
    assert _ids(curated(Request("x", ts=10.0), Profile("x"))) == []
    assert _ids(curated(Request("x", ts=60.0), Profile("x"))) == ["d"]
    assert _ids(curated(Request("x", ts=150.0), Profile("x"))) == ["d", "a", "b"]
    assert _ids(curated(Request("x", ts=200.0), Profile("x"))) == ["d"]  # end is exclusive
    assert _ids(curated(Request("x", ts=5000.0), Profile("x"))) == ["d", "e"]


def test_segments_from_entity_and_context(curated):
    heavy = curated(Request("heavy_user", ts=150.0), Profile("heavy_user"))
    # hinted pools first by hint (launch 0, vip 2), then the rest; "a" only once
    assert _ids(heavy) == ["d", "c", "a", "b"]
    assert heavy[1].reasons == ["curated:vip", "position_hint:2"]
    assert heavy[0].reasons == ["curated:launch", "position_hint:0"]
    assert heavy[3].reasons == ["curated:summer"]
    assert [c.score for c in heavy] == sorted((c.score for c in heavy), reverse=True)
    assert "c" not in _ids(curated(Request("casual_user", ts=150.0), Profile("casual_user")))
    stated = Request("casual_user", ts=150.0, context={"segment": "heavy"})
    assert "c" in _ids(curated(stated, Profile("casual_user")))


def test_without_consent_the_account_segment_is_not_read(curated):
    refused = Profile("heavy_user", consent={Consent.PERSONALIZATION.value: False})
    assert "c" not in _ids(curated(Request("heavy_user", ts=150.0), refused))
    stated = Request("heavy_user", ts=150.0, context={"segment": "heavy"})
    assert "c" in _ids(curated(stated, refused))


def test_seen_negatives_and_n(curated, store):
    profile = Profile("heavy_user", seen={"d"}, negatives={"c"})
    assert _ids(curated(Request("heavy_user", ts=150.0), profile)) == ["a", "b"]
    small = CuratedRecall({"n": 2})
    small.train(TrainingData(catalog=store))
    assert _ids(small(Request("heavy_user", ts=150.0), Profile("heavy_user"))) == ["d", "c"]


def test_refresh_sees_operations_edits_without_retraining(curated, store):
    store.put(
        [
            Item("g", category="music"),
            CuratedPool("flash", "Flash sale", ("g",), starts_at=0.0, position_hint=1),
            Item("d", category="music", deleted=True),  # launch's item was taken down
        ]
    )
    assert "g" not in _ids(curated(Request("x", ts=60.0), Profile("x")))
    assert curated.refresh(store) == 5
    assert _ids(curated(Request("x", ts=60.0), Profile("x"))) == ["g"]


def test_save_load(curated, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    assert curated.save(folder) == {"pools": 4, "items": 6}
    loaded = CuratedRecall()
    loaded.load(folder)
    request = Request("heavy_user", ts=150.0)
    assert _ids(loaded(request, Profile("heavy_user"))) == ["d", "c", "a", "b"]


@pytest.fixture(scope="module")
def platform_with_pools(tiny_platform, tmp_path_factory):
    """The tiny platform's events with a copy of its catalog plus operations pools."""
    store = SQLCatalog(f"sqlite:///{tmp_path_factory.mktemp('curated') / 'catalog.db'}")
    items = list(tiny_platform.catalog.scan(Item))
    store.put(items)
    store.put(tiny_platform.catalog.scan(User))
    ids = [i.item_id for i in items]
    store.put(
        [
            CuratedPool("editorial", "Editorial", tuple(ids[:40]), starts_at=0.0),
            CuratedPool("regulars", "Regulars", tuple(ids[40:60]), segments=("regular",)),
        ]
    )
    return TrainingData(tiny_platform.events, store)


class TestCuratedContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return CuratedRecall({"n": 30})

    @pytest.fixture
    def training_data(self, platform_with_pools):
        return platform_with_pools
