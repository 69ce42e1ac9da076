"""Per-step series and distribution curves on a hand-computed log (expected values in comments).

Window ``7d`` ends at END = 10 days, so the steps are days: step 0 is [9D, 10D), step 1
[8D, 9D). The log starts at 8D + 50 s, inside step 1, which is therefore partial.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecorec.core.config import HealthConfig
from ecorec.core.entities import Ad, BidType, Creator, CreatorStage, Item, User
from ecorec.metrics.health import Window, catalog_tables, load_frame, metrics_of
from ecorec.metrics.health.daily import (
    exposure_curves,
    retention_curves,
    series_step,
    step_series,
)
from tests.metrics.health_log import END, D, e, table

CATALOG = [
    User("u1"),
    User("u2", created_at=7 * D + 100),  # cohort 1970-01-08, day 1 = [8D+100, 9D+100)
    User("u3", created_at=7 * D + 200),  # same cohort, never seen again
    Creator("c1", CreatorStage.HEAD),
    Creator("c2", CreatorStage.MID),
    Item("i1", "c1", "news"),
    Item("i2", "c2", "sports"),
    Item("i3", "c2", "sports"),
    Item("i4", "c1", "news"),
    Ad("a1", "adv1", BidType.CPM, bid=2000.0),  # 2.0 per impression at list price
]


def _events() -> list:
    day1, day0 = 8 * D, 9 * D
    return [
        # step 1: two organic impressions of i1, one play, one ad shown in its own request
        e(day1 + 50, "u1", "impression", item_id="i1", request_id="r2", position=0),
        e(day1 + 60, "u1", "impression", item_id="i1", request_id="r2", position=1),
        e(day1 + 70, "u1", "play", item_id="i1", value=15.0),
        e(day1 + 80, "u1", "impression", ad_id="a1", request_id="r3", position=0),
        # step 0
        e(day0 + 50, "u2", "play", item_id="i1", value=30.0),
        *(
            e(day0 + 100 + k, "u1", "impression", item_id="i1", request_id="r1", position=k)
            for k in range(3)
        ),
        e(day0 + 110, "u1", "impression", item_id="i2", request_id="r1", position=3),
        e(day0 + 120, "u1", "play", item_id="i1", value=20.0),
        e(day0 + 130, "u1", "play", item_id="i2", value=5.0),
        e(day0 + 140, "u1", "like", item_id="i1"),
        e(day0 + 150, "u1", "not_interested", item_id="i2"),
        e(day0 + 160, "u1", "impression", ad_id="a1", request_id="r1", position=4),
    ]


@pytest.fixture(scope="module")
def measured() -> dict:
    config = HealthConfig()
    frame = load_frame(table(_events()), catalog_tables(CATALOG), Window("7d", END - 7 * D, END))
    try:
        report = metrics_of(frame, config)
        return {
            "report": report,
            "series": step_series(frame, config.effective_play_seconds, config.head_share),
            "curves": exposure_curves(frame, config.head_share),
            "retention": retention_curves(frame),
        }
    finally:
        frame.close()


def test_step_is_a_day_from_three_days_on() -> None:
    assert series_step(7 * D) == D and series_step(3 * D) == D
    assert series_step(2 * D) == 3600.0


def test_user_value_and_business_per_step(measured: dict) -> None:
    series = measured["series"]
    assert series["step"] == D
    old, new = series["points"]  # oldest first
    assert (old["start"], old["end"], new["start"], new["end"]) == (8 * D, 9 * D, 9 * D, END)
    assert old["partial"] and not new["partial"]
    # step 0: u1 and u2; plays 30 + 20 + 5 s, two of them >= 10 s; one like; one negative
    # over 4 organic impressions; 1 ad of 5 impressions; request r1 carried the ad
    assert new["active_users"] == 2
    assert new["time_per_user"] == pytest.approx(27.5)
    assert new["effective_play_rate"] == pytest.approx(2 / 3)
    assert new["like_rate"] == pytest.approx(1 / 3)
    assert new["negative_feedback_rate"] == pytest.approx(0.25)
    assert new["ad_load"] == pytest.approx(0.2) and new["fill_rate"] == 1.0
    # step 1: requests r2 (organic) and r3 (the ad): half carried an ad
    assert old["active_users"] == 1 and old["time_per_user"] == 15.0
    assert old["fill_rate"] == 0.5 and old["ad_load"] == pytest.approx(1 / 3)
    # a CPM ad at 2000 bills 2.0 per impression: eCPM 2000 in each step
    assert [p["ad_revenue"] for p in (old, new)] == [2.0, 2.0]
    assert [p["ecpm"] for p in (old, new)] == [2000.0, 2000.0]
    # the steps add up to the window's headline revenue
    assert (
        sum(p["ad_revenue"] for p in series["points"])
        == measured["report"]["business"]["ad_revenue"]
    )


def test_ecosystem_per_step(measured: dict) -> None:
    old, new = measured["series"]["points"]
    # 4 items; step 0 shows i1 x3, i2 x1: sorted [0, 0, 1, 3], Gini (1*1 + 3*3) / (4*4)
    assert new["gini"] == pytest.approx(10 / 16)
    # step 1 shows only i1 twice: (3*2) / (4*2)
    assert old["gini"] == pytest.approx(6 / 8)
    # the window's head is ceil(0.2 * 4) = 1 item, i1 (4 interactions against i2's 1)
    assert new["long_tail_share"] == pytest.approx(0.25) and old["long_tail_share"] == 0.0
    assert new["item_coverage"] == 0.5 and old["item_coverage"] == 0.25
    assert new["creator_tier_share"] == pytest.approx({"head": 0.75, "mid": 0.25})
    assert old["creator_tier_share"] == {"head": 1.0}


def test_lorenz_curve_area_is_the_gini(measured: dict) -> None:
    lorenz = measured["curves"]["lorenz"]
    # window exposure: i1 5, i2 1, i3 0, i4 0 -> sorted [0, 0, 1, 5] of 6
    assert lorenz["x"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert lorenz["y"] == pytest.approx([0.0, 0.0, 0.0, 1 / 6, 1.0])
    x, y = np.array(lorenz["x"]), np.array(lorenz["y"])
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    gini = measured["report"]["ecosystem"]["gini"]
    assert gini == pytest.approx(2 / 3)
    assert 1 - 2 * area == pytest.approx(gini)


def test_long_tail_curve_matches_the_long_tail_share(measured: dict) -> None:
    curve = measured["curves"]["long_tail"]
    # popularity order i1 (4 interactions), i2 (1), then i3, i4 (ties by id)
    assert curve["y"] == pytest.approx([0.0, 5 / 6, 1.0, 1.0, 1.0])
    assert curve["head_share"] == 0.2
    head_edge = 1  # ceil(0.2 * 4) items
    share = measured["report"]["ecosystem"]["long_tail_share"]
    assert 1 - curve["y"][head_edge] == pytest.approx(share) == pytest.approx(1 / 6)


def test_retention_curves_by_cohort(measured: dict) -> None:
    curves = {c["cohort"]: c for c in measured["retention"]}
    # u1 (signed up at 0): only day 9 = [9D, 10D) lies inside the observed window; active
    assert curves["1970-01-01"] == {
        "cohort": "1970-01-01",
        "users": 1,
        "days": [9],
        "retention": [1.0],
    }
    # u2 played on day 1, u3 never came back; day 2 would end after the window
    assert curves["1970-01-08"] == {
        "cohort": "1970-01-08",
        "users": 2,
        "days": [1],
        "retention": [0.5],
    }
    assert set(curves) == {"1970-01-01", "1970-01-08"}


def test_curves_are_thinned_with_their_ends_kept() -> None:
    from ecorec.metrics.health.daily import CURVE_POINTS, _thin

    x = np.linspace(0, 1, 10_001)
    tx, ty = _thin(x, x**2)
    assert len(tx) <= CURVE_POINTS + 1
    assert (tx[0], tx[-1], ty[-1]) == (0.0, 1.0, 1.0)
    assert all(b > a for a, b in zip(tx, tx[1:], strict=False))
