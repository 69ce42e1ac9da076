"""Ecosystem health metrics on a hand-computed event log (expected values derived in comments)."""

from __future__ import annotations

import numpy as np
import pytest

from ecorec.core.config import HealthConfig
from ecorec.core.entities import Creator, CreatorStage, Item, User
from ecorec.metrics.beyond_accuracy import exposure_gini, long_tail_mask
from ecorec.metrics.health import compute_health
from tests.metrics.health_log import END, D, e, table

CREATORS = [
    Creator("c1", CreatorStage.HEAD),
    Creator("c2", CreatorStage.MID),
    Creator("c3", CreatorStage.NOVICE, created_at=4 * D),  # joins in the window
    Creator("c4", CreatorStage.NOVICE, created_at=2 * D),
]
ITEMS = [
    Item("i1", "c1", "news"),
    Item("i2", "c1", "news", created_at=2 * D),  # published in the previous window
    Item("i3", "c2", "sports"),
    Item("i4", "c3", "music", created_at=5 * D),  # published in the window
    Item("i5", "c4", "cooking", created_at=2.5 * D),  # previous window
    Item("i6", "c2", "travel", deleted=True),  # not part of the catalog any more
    Item("i7", "c1", "news", created_at=4 * D),  # window
]
USERS = [User("u1"), User("u2")]


def _events() -> list:
    shows = {"i1": 5, "i2": 2, "i3": 2, "i4": 1}  # i5 and i7 are never shown
    out = []
    t = 5 * D
    for item, n in shows.items():
        for _ in range(n):
            t += 10
            out.append(e(t, "u1", "impression", item_id=item, position=0))
    out.append(e(t + 1, "u1", "impression", ad_id="a1", position=3))  # ads are not exposure
    out += [
        e(t + 2, "u1", "click", item_id="i1"),
        e(t + 3, "u2", "click", item_id="i1"),
        e(t + 4, "u1", "play", item_id="i1", value=20.0),
        e(t + 5, "u2", "click", item_id="i3"),
        e(t + 6, "u2", "like", item_id="i4"),
    ]
    return out


@pytest.fixture(scope="module")
def eco() -> dict:
    config = HealthConfig(top_categories=2)
    return compute_health(table(_events()), USERS + CREATORS + ITEMS, "7d", now=END, config=config)[
        "ecosystem"
    ]


def test_coverage(eco: dict) -> None:
    # universe: i1 i2 i3 i4 i5 i7 (i6 deleted); categories news sports music cooking
    assert (eco["items"], eco["items_shown"]) == (6, 4)
    assert eco["item_coverage"] == pytest.approx(4 / 6)
    assert eco["categories_shown"] == 3
    assert eco["category_coverage"] == pytest.approx(3 / 4)
    # exposure: news 7, sports 2, music 1; outside the top 2: music -> 1 / 10
    assert eco["tail_category_exposure_share"] == pytest.approx(0.1)


def test_gini_of_exposure_and_clicks(eco: dict) -> None:
    # impressions sorted: 0 0 1 2 2 5, n = 6, sum 10:
    # (-1 * 1 + 1 * 2 + 3 * 2 + 5 * 5) / (6 * 10) = 32 / 60
    assert eco["gini"] == pytest.approx(32 / 60)
    # the offline metric agrees: one slot per impression, catalog of 6
    slots = np.array([[0]] * 5 + [[1]] * 2 + [[2]] * 2 + [[3]])
    assert eco["gini"] == pytest.approx(exposure_gini(slots, 6))
    # clicks: 0 0 0 0 1 2 -> (3 * 1 + 5 * 2) / (6 * 3)
    assert eco["click_gini"] == pytest.approx(13 / 18)


def test_long_tail(eco: dict) -> None:
    # interactions: i1 3 (2 clicks, 1 play), i3 1, i4 1; head = ceil(0.2 * 6) = 2 items:
    # i1, then i3 (ties by id) -> tail exposure (i2 2 + i4 1) / 10, tail interactions 1 / 5
    assert eco["long_tail_share"] == pytest.approx(0.3)
    assert eco["long_tail_consumption_share"] == pytest.approx(0.2)
    # the same head as the offline definition (items i1 i2 i3 i4 i5 i7 as indices 0..5)
    tail = long_tail_mask(np.array([3, 0, 1, 1, 0, 0]))
    assert tail.tolist() == [False, True, False, True, True, True]


def test_creator_tiers_and_growth(eco: dict) -> None:
    # c1 (head) 7 impressions, c2 (mid) 2, c3 (novice) 1
    assert eco["creator_tier_share"] == pytest.approx({"head": 0.7, "mid": 0.2, "novice": 0.1})
    # before the window: c1 c2 c4; joined: c3
    assert (eco["creators"], eco["creators_new"]) == (4, 1)
    assert eco["creator_growth"] == pytest.approx(1 / 3)
    # published in the window: c1 (i7), c3 (i4); before: c1 c2 c4 (i6 counts: it was published)
    assert eco["active_creators"] == 2
    assert eco["creator_retention"] == pytest.approx(1 / 3)


def test_empty_window_has_no_gini() -> None:
    log = table([e(2 * D, "u1", "impression", item_id="i1", position=0)])  # previous window only
    eco = compute_health(log, USERS + CREATORS + ITEMS, "7d", now=END)["ecosystem"]
    assert eco["gini"] is None and eco["long_tail_share"] is None
    assert eco["category_coverage"] == 0.0
