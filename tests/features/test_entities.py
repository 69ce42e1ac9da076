"""Entities: catalog rows for feature code; users read on demand are kept a while, bounded."""

from __future__ import annotations

from typing import Any

import pytest

from ecorec.core.entities import Item, User
from ecorec.core.recent import USER_SECONDS
from ecorec.data.catalog.sql import SQLCatalog
from ecorec.features.entities import Entities


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Every ``SQLCatalog.get`` of the test, as (kind, ids)."""
    seen: list[tuple[str, list[str]]] = []
    get = SQLCatalog.get

    def counting(self: SQLCatalog, kind: type, ids: Any) -> dict[str, Any]:
        ids = list(ids)
        seen.append((kind.__name__, ids))
        return get(self, kind, ids)

    monkeypatch.setattr(SQLCatalog, "get", counting)
    return seen


def test_users_outside_the_snapshot_are_read_once_an_hour_not_kept_for_good(reads) -> None:
    catalog = SQLCatalog("sqlite:///:memory:")
    catalog.put([User("new", segment="light")])
    entities = Entities.of(users=[User("trained", segment="heavy")])
    entities.catalog = catalog
    now = [0.0]
    entities.recent_users.clock = lambda: now[0]

    assert entities.user("trained").segment == "heavy"  # the training snapshot: no read
    assert [entities.user("new").segment for _ in range(3)] == ["light"] * 3
    assert [entities.user("nobody") for _ in range(3)] == [None] * 3
    assert reads == [("User", ["new"]), ("User", ["nobody"])]  # a miss is remembered too
    assert set(entities.users) == {"trained"}  # the snapshot did not grow

    catalog.put([User("new", segment="heavy")])
    now[0] = USER_SECONDS
    assert entities.user("new").segment == "heavy"  # after the hour: read again


def test_users_read_on_demand_stay_bounded(reads) -> None:
    catalog = SQLCatalog("sqlite:///:memory:")
    catalog.put([User(f"u{k}") for k in range(50)])
    entities = Entities(catalog=catalog)
    entities.recent_users.limit = 10
    for k in range(50):
        assert entities.user(f"u{k}") is not None
        assert len(entities.recent_users._values) <= 10
    assert not entities.users


def test_items_published_after_training_are_fetched_once_and_kept(reads) -> None:
    catalog = SQLCatalog("sqlite:///:memory:")
    catalog.put([Item("fresh", category="news")])
    entities = Entities(catalog=catalog)
    assert [entities.item("fresh").category for _ in range(3)] == ["news"] * 3
    assert reads == [("Item", ["fresh"])] and "fresh" in entities.items
