"""Contract tests every Catalog backend must pass (the ``lenskit.testing`` habit).

A backend's test module subclasses :class:`CatalogContract` and provides a ``catalog``
fixture yielding a fresh, empty catalog. ``attrs`` is excluded from dataclass equality, so the
tests compare it explicitly.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from ecorec.core.entities import (
    Ad,
    Advertiser,
    BidType,
    Creator,
    CreatorStage,
    CuratedPool,
    Item,
    User,
    entity_id,
)
from ecorec.data.protocols import Catalog

#: Errors a failing batch may raise, depending on where the backend notices the problem.
BATCH_ERRORS = (ValueError, TypeError, sa.exc.SQLAlchemyError)


def sample_entities() -> list[Any]:
    """One entity of every type with every field set, and one with only the required ones."""
    attrs = {"occupation": "engineer", "nested": {"zip": "02139", "scores": [1, 2.5, None]}}
    return [
        User(
            "u1",
            created_at=1.7e9,
            segment="new",
            region="eu",
            group="g1",
            activity=2.5,
            attrs=attrs,
        ),
        User("u2"),
        Creator(
            "c1",
            stage=CreatorStage.HEAD,
            quality=0.9,
            category="music",
            output_rate=1.5,
            created_at=1.6e9,
            attrs={"verified": True},
        ),
        Creator("c2"),
        Item(
            "i1",
            creator_id="c1",
            category="music",
            tags=("rock", "live"),
            title="Live ünïcode",
            quality=0.75,
            duration=215.5,
            created_at=1.65e9,
            deleted=True,
            attrs=attrs,
        ),
        Item("i2"),
        Advertiser("a1", name="Acme", daily_budget=1000.0, target_cpa=12.5, attrs={"tier": 1}),
        Advertiser("a2"),
        Ad(
            "ad1",
            "a1",
            bid_type=BidType.OCPM,
            bid=2.25,
            target_cpa=10.0,
            category="shoes",
            landing_quality=0.8,
            true_ctr=0.02,
            true_cvr=0.001,
            active=False,
            attrs={"x": [1]},
        ),
        Ad("ad2", "a2"),
        CuratedPool(
            "p1",
            "Summer",
            item_ids=("i1", "i2"),
            starts_at=1.0,
            ends_at=2.0,
            segments=("new", "eu"),
            position_hint=3,
        ),
        CuratedPool("p2", "Empty"),
    ]


def assert_same(got: Any, want: Any) -> None:
    """Compare two entities on every field, ``attrs`` and field types included."""
    assert got == want
    assert type(got) is type(want)
    for name in ("attrs",):
        if hasattr(want, name):
            assert getattr(got, name) == getattr(want, name)
    for name in ("tags", "item_ids", "segments"):
        if hasattr(want, name):
            assert isinstance(getattr(got, name), tuple)
    for name in ("stage", "bid_type"):
        if hasattr(want, name):
            assert type(getattr(got, name)) is type(getattr(want, name))


KINDS = (User, Creator, Item, Advertiser, Ad, CuratedPool)


class CatalogContract:
    """Known-answer tests of the :class:`Catalog` protocol; needs a ``catalog`` fixture."""

    def test_round_trip_every_type(self, catalog: Catalog) -> None:
        entities = sample_entities()
        assert catalog.put(entities) == len(entities)
        for kind in KINDS:
            want = {entity_id(e): e for e in entities if type(e) is kind}
            got = catalog.get(kind, list(want) + ["missing"])
            assert sorted(got) == sorted(want)
            for key, entity in want.items():
                assert_same(got[key], entity)
            scanned = list(catalog.scan(kind))
            assert [entity_id(e) for e in scanned] == sorted(want)
            for entity in scanned:
                assert_same(entity, want[entity_id(entity)])
            assert catalog.ids(kind) == sorted(want)
            assert catalog.ids(kind, limit=1) == sorted(want)[:1]
            assert catalog.count(kind) == len(want)

    def test_values_are_the_fields_of_the_scan(self, catalog: Catalog) -> None:
        entities = sample_entities()
        catalog.put(entities)
        item_fields = ("item_id", "deleted", "quality", "tags", "attrs", "creator_id")
        assert list(catalog.values(Item, item_fields)) == [
            ("i1", True, 0.75, ["rock", "live"], entities[4].attrs, "c1"),
            ("i2", False, None, [], {}, None),
        ]
        # enums as their stored values, in id order like ``scan``
        assert list(catalog.values(Creator, ("stage", "creator_id"))) == [
            ("head", "c1"),
            (str(Creator("c2").stage), "c2"),
        ]
        default_bid = str(Ad("ad2", "a2").bid_type)
        assert list(catalog.values(Ad, ("bid_type",))) == [("ocpm",), (default_bid,)]
        assert list(catalog.values(User, ())) == [(), ()]
        with pytest.raises(ValueError, match="User has no field 'category'"):
            list(catalog.values(User, ("user_id", "category")))

    def test_empty_catalog(self, catalog: Catalog) -> None:
        for kind in KINDS:
            assert catalog.count(kind) == 0
            assert catalog.ids(kind) == []
            assert list(catalog.scan(kind)) == []
            assert catalog.get(kind, ["x"]) == {}
        assert catalog.put([]) == 0

    def test_types_do_not_share_ids(self, catalog: Catalog) -> None:
        catalog.put([User("x"), Item("x", category="music")])
        assert catalog.get(Item, ["x"])["x"].category == "music"
        assert catalog.delete(User, ["x"]) == 1
        assert catalog.count(Item) == 1

    def test_ids_sort_bytewise(self, catalog: Catalog) -> None:
        names = ["b", "B", "a", "A", "a10", "a9", "_z", "é"]
        catalog.put([Item(name) for name in names])
        assert catalog.ids(Item) == sorted(names)

    def test_upsert_updates(self, catalog: Catalog) -> None:
        catalog.put([Item("i1", category="music", tags=("a",), attrs={"v": 1})])
        catalog.put([Item("i1", category="news", deleted=True, attrs={"v": 2})])
        item = catalog.get(Item, ["i1"])["i1"]
        assert (item.category, item.tags, item.deleted, item.attrs) == ("news", (), True, {"v": 2})
        assert catalog.count(Item) == 1

    def test_last_duplicate_in_a_batch_wins(self, catalog: Catalog) -> None:
        assert catalog.put([Item("i1", title="old"), Item("i1", title="new")]) == 1
        assert catalog.get(Item, ["i1"])["i1"].title == "new"

    def test_batch_with_missing_id_writes_nothing(self, catalog: Catalog) -> None:
        catalog.put([Item("keep", title="before")])
        missing_id = Item(None)  # type: ignore[arg-type]
        batch: list[Any] = [User("u1"), Item("keep", title="after"), missing_id, Item("i3")]
        with pytest.raises(BATCH_ERRORS):
            catalog.put(batch)
        assert catalog.count(User) == 0
        assert catalog.ids(Item) == ["keep"]
        assert catalog.get(Item, ["keep"])["keep"].title == "before"

    def test_batch_failing_in_the_database_writes_nothing(self, catalog: Catalog) -> None:
        # Users are written first, then the ads fail on a row the database refuses (an ad
        # without its advertiser_id): the users' part must be rolled back too.
        batch: list[Any] = [User(f"u{n}") for n in range(50)]
        batch += [Ad("ad1", "a1"), Ad("ad2", None), Ad("ad3", "a1")]  # type: ignore[arg-type]
        with pytest.raises(BATCH_ERRORS):
            catalog.put(batch)
        assert catalog.count(User) == 0
        assert catalog.count(Ad) == 0

    def test_delete(self, catalog: Catalog) -> None:
        catalog.put([Item(f"i{n}") for n in range(5)])
        assert catalog.delete(Item, ["i1", "i3", "missing"]) == 2
        assert catalog.ids(Item) == ["i0", "i2", "i4"]
        assert catalog.delete(Item, []) == 0

    def test_many_rows(self, catalog: Catalog) -> None:
        n = 10_000
        items = [
            Item(
                f"i{k:05d}",
                creator_id=f"c{k % 97}",
                category=f"cat{k % 13}",
                tags=("t",),
                quality=k / n,
                created_at=float(k),
                attrs={"k": k},
            )
            for k in range(n)
        ]
        started = time.perf_counter()
        assert catalog.put(items) == n
        assert time.perf_counter() - started < 30
        assert catalog.count(Item) == n
        got = catalog.get(Item, [f"i{k:05d}" for k in range(0, n, 3)])
        assert len(got) == len(range(0, n, 3))
        assert got["i09999"].attrs == {"k": 9999}
        scanned = list(catalog.scan(Item))
        assert len(scanned) == n
        assert scanned[-1] == items[-1]
        assert catalog.delete(Item, [f"i{k:05d}" for k in range(n // 2)]) == n // 2
        assert catalog.count(Item) == n - n // 2
