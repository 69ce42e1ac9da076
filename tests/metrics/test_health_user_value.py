"""User-value health metrics on a hand-computed event log (expected values derived in comments)."""

from __future__ import annotations

import pytest

from ecorec.core.entities import User
from ecorec.metrics.health import compute_health
from ecorec.metrics.health.sentiment import comment_score
from tests.metrics.health_log import END, D, e, table

# Window 7d = [3D, 10D); days are slices back from the end: day 0 = [9D, 10D) ... day 6 = [3D, 4D).
USERS = [
    User("u1", created_at=0.0, segment="casual", group="a"),
    User("u2", created_at=3 * D + 100, segment="new", group="b"),  # signs up on day 6: new
    User("u3", created_at=2 * D, segment="casual", group="a"),
]
EVENTS = [
    # previous window [-4D, 3D): 2 organic impressions, 1 not_interested -> rate 0.5
    e(2.5 * D, "u1", "impression", item_id="i1", position=0),
    e(2.5 * D + 1, "u1", "impression", item_id="i2", position=1),
    e(2.5 * D + 2, "u1", "not_interested", item_id="i2"),
    # u1: day 6 (one visit), day 0 (a second visit)
    e(3 * D + 10, "u1", "impression", item_id="i1", position=0, request_id="r1"),
    e(3 * D + 20, "u1", "click", item_id="i1", request_id="r1"),
    e(3 * D + 30, "u1", "play", item_id="i1", value=30.0),
    e(3 * D + 40, "u1", "like", item_id="i1"),
    e(9 * D + 10, "u1", "impression", item_id="i2", position=1, request_id="r2"),
    e(9 * D + 20, "u1", "play", item_id="i2", value=5.0),
    e(9 * D + 30, "u1", "not_interested", item_id="i2"),
    e(9 * D + 40, "u1", "survey", value=9.0),
    # u2: day 6 (visit 1), day 5 at 4D+150 (visit 2) and 4000 s later (visit 3: gap > 1800)
    e(3 * D + 200, "u2", "impression", item_id="i1", position=0, request_id="r3"),
    e(3 * D + 210, "u2", "click", item_id="i1", request_id="r3"),
    e(3 * D + 220, "u2", "play", item_id="i1", value=12.0),
    e(3 * D + 230, "u2", "comment", item_id="i1", extra={"text": "love this"}),
    e(3 * D + 240, "u2", "share", item_id="i1"),
    e(4 * D + 150, "u2", "impression", item_id="i3", position=2, request_id="r4"),
    e(4 * D + 4150, "u2", "survey", value=10.0),
    # u3: day 5 and day 0
    e(4 * D + 50, "u3", "survey", value=3.0),
    e(9 * D + 500, "u3", "comment", item_id="i3", extra={"text": "great but boring and bad"}),
]


@pytest.fixture(scope="module")
def report() -> dict:
    return compute_health(table(EVENTS), USERS, window="7d", now=END)


def test_activity_and_dau(report: dict) -> None:
    uv = report["user_value"]
    assert report["events"] == len(EVENTS) - 3  # the previous window's three are not counted
    assert (uv["active_users"], uv["active_users_new"], uv["active_users_returning"]) == (3, 1, 2)
    # (user, day) pairs: u1 d6, d0; u2 d6, d5; u3 d5, d0 -> 6 over 7 days
    assert uv["dau"] == pytest.approx(6 / 7)


def test_retention_by_signup_day(report: dict) -> None:
    uv = report["user_value"]
    # d1: u3 (day [3D, 4D), no event) and u2 ([4D+100, 5D+100) has 4D+150); u1's d1 precedes it
    assert uv["retention_d1"] == pytest.approx(1 / 2)
    # d7: u1 ([7D, 8D), nothing) and u3 ([9D, 10D) has 9D+500); u2's day 7 is after the end
    assert uv["retention_d7"] == pytest.approx(1 / 2)
    assert uv["retention_d30"] is None  # nobody's day 30 lies in the window
    cohorts = {c["cohort"]: c for c in uv["retention_by_cohort"]}
    assert cohorts["1970-01-01"] == {
        "cohort": "1970-01-01",
        "users": 1,
        "retention_d1": None,
        "retention_d7": 0.0,
        "retention_d30": None,
    }
    assert cohorts["1970-01-03"]["retention_d1"] == 0.0
    assert cohorts["1970-01-03"]["retention_d7"] == 1.0
    assert cohorts["1970-01-04"]["retention_d1"] == 1.0


def test_next_day_retention_new_vs_returning(report: dict) -> None:
    uv = report["user_value"]
    # new: u2 on day 6 (signed up that day), back on day 5 -> 1/1
    # returning: u1 day 6 (not on 5), u2 day 5 (not on 4), u3 day 5 (not on 4) -> 0/3
    assert uv["next_day_retention_new"] == 1.0
    assert uv["next_day_retention_returning"] == 0.0


def test_time_visits_and_depth(report: dict) -> None:
    uv = report["user_value"]
    assert uv["time_per_user"] == pytest.approx((30 + 5 + 12) / 3)
    # visits: u1 2, u2 3, u3 2 = 7; item clicks 2
    assert uv["visits_per_user"] == pytest.approx(7 / 3)
    assert uv["click_depth"] == pytest.approx(2 / 7)


def test_engagement_rates(report: dict) -> None:
    uv = report["user_value"]
    # 3 plays (30 s, 5 s, 12 s): 2 of at least 10 s; 1 like, 2 comments, 1 share
    assert uv["effective_play_rate"] == pytest.approx(2 / 3)
    assert uv["like_rate"] == pytest.approx(1 / 3)
    assert uv["comment_rate"] == pytest.approx(2 / 3)
    assert uv["share_rate"] == pytest.approx(1 / 3)


def test_negative_feedback_now_and_before(report: dict) -> None:
    uv = report["user_value"]
    assert uv["negative_feedback_rate"] == pytest.approx(1 / 4)  # 1 not_interested, 4 impressions
    assert uv["negative_feedback_rate_previous"] == pytest.approx(1 / 2)


def test_nps_and_sentiment(report: dict) -> None:
    uv = report["user_value"]
    # answers 9, 10 (promoters) and 3 (detractor): 100 * (2 - 1) / 3
    assert uv["nps"] == pytest.approx(100 / 3)
    # "love this" = 1; "great but boring and bad" = (1 - 2) / 3
    assert uv["comment_sentiment"] == pytest.approx((1 - 1 / 3) / 2)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("love this", 1.0),
        ("not sure about this", -1.0),
        ("I don't like it", -1.0),
        ("not bad at all", 1.0),
        ("first!", 0.0),
        ("so good, but ugly", 0.0),
    ],
)
def test_comment_score_lexicon(text: str, score: float) -> None:
    assert comment_score(text) == score


def test_no_data_is_null_not_zero() -> None:
    only_impressions = [e(9 * D, "u1", "impression", item_id="i1", position=0)]
    uv = compute_health(table(only_impressions), USERS, window="7d", now=END)["user_value"]
    for key in ("effective_play_rate", "like_rate", "nps", "comment_sentiment", "retention_d30"):
        assert uv[key] is None, key
    assert uv["negative_feedback_rate"] == 0.0


def test_visits_split_exactly_at_the_session_gap() -> None:
    base = 9 * D
    # 0.2 and 0.9 share a one-second bucket; 1800.8 is 1799.9 s after 0.9 (same visit);
    # 3601.1 is 1800.3 s after 1800.8 (a new visit); 5401.0 is 1799.9 s later (same)
    offsets = (0.2, 0.9, 1800.8, 3601.1, 5401.0)
    log = [e(base + t, "u1", "click", item_id="i1") for t in offsets]
    uv = compute_health(table(log), USERS, "1d", now=END)["user_value"]
    assert uv["visits_per_user"] == 2.0
    assert uv["click_depth"] == pytest.approx(5 / 2)
