"""Fairness health metrics on a hand-computed event log (expected values derived in comments)."""

from __future__ import annotations

import pytest

from ecorec.core.config import HealthConfig
from ecorec.core.entities import Creator, CreatorStage, Item, User
from ecorec.metrics.health import compute_health
from tests.metrics.health_log import END, D, e, table

CATALOG = [
    Creator("c1", CreatorStage.HEAD),
    Creator("c2", CreatorStage.HEAD),
    Creator("c3", CreatorStage.NOVICE),
    Creator("c4", CreatorStage.NOVICE),
    # quality bin 8 (0.8-0.9): i1 head, i2 and i3 novice; bin 2: i4 head, i5 novice
    Item("i1", "c1", quality=0.85),
    Item("i2", "c3", quality=0.82),
    Item("i3", "c4", quality=0.88),
    Item("i4", "c2", quality=0.25),
    Item("i5", "c3", quality=0.21),
    Item("i6", "c1"),  # no quality: left out of the equal-quality comparison
    User("u1", group="a", region="eu"),
    User("u2", group="b", region="eu"),
    User("u3", group="a", region="na"),
    User("u4"),  # no group: in no user group
]


def _events() -> list:
    out = []
    t = 5 * D

    def show(item: str, user: str, position: int, n: int = 1) -> None:
        nonlocal t
        for _ in range(n):
            t += 1
            out.append(e(t, user, "impression", item_id=item, position=position))

    show("i1", "u1", 0, 3)
    show("i1", "u2", 0, 3)
    show("i2", "u1", 5, 2)
    show("i4", "u1", 1, 2)
    show("i4", "u3", 1)
    show("i5", "u2", 4)
    show("i5", "u3", 4)
    show("i5", "u4", 4)
    out += [
        e(t + 1, "u1", "click", item_id="i1"),
        e(t + 2, "u1", "click", item_id="i1"),
        e(t + 3, "u2", "click", item_id="i5"),
    ]
    return out


@pytest.fixture(scope="module")
def fair() -> dict:
    return compute_health(table(_events()), CATALOG, "7d", now=END)["fairness"]


def test_exposure_variance_of_equal_quality(fair: dict) -> None:
    # bin 8: impressions i1 6, i2 2, i3 0, mean 8/3; head 6 -> ratio 2.25, novice 1 -> 0.375;
    #   var_pop = ((2.25 - 0.375) / 2) ** 2 = 0.87890625 over 3 items
    # bin 2: i4 3, i5 3: both ratios 1, variance 0 over 2 items
    assert fair["exposure_variance"] == pytest.approx(0.87890625 * 3 / 5)
    # head: (2.25 * 1 + 1 * 1) / 2; novice: (0.375 * 2 + 1 * 1) / 3
    assert fair["exposure_ratio_by_creator_group"] == pytest.approx(
        {"head": 1.625, "novice": 1.75 / 3}
    )


def test_conversion_rate_gap_on_shared_items(fair: dict) -> None:
    # i1: a 2/3, b 0/3 -> gap 2/3 over 6 impressions; i5: b 1/1, a 0/1 -> gap 1 over 2
    # (u4 has no group); i2 and i4 were shown to group a only
    assert fair["conversion_rate_gap"] == pytest.approx((2 / 3 * 6 + 1 * 2) / 8)
    assert fair["ctr_by_user_group"] == pytest.approx({"a": 2 / 4, "b": 1 / 4})


def test_population_coverage_at_the_top(fair: dict) -> None:
    # top 3 positions show i1 (c1) and i4 (c2): both head creators, no novice
    assert fair["top_coverage_by_creator_group"] == {"head": 1.0, "novice": 0.0}


def test_user_group_attribute_from_config() -> None:
    config = HealthConfig(user_group="region")
    fair = compute_health(table(_events()), CATALOG, "7d", now=END, config=config)["fairness"]
    # by region: i1 is shown to eu only (u1, u2); i4 to eu (u1 2) and na (u3 1), no clicks;
    # i5 to eu (u2, clicked) and na (u3) -> gaps 0 over 3 and 1 over 2
    assert fair["user_group"] == "region"
    assert fair["conversion_rate_gap"] == pytest.approx(2 / 5)
