"""Health index weights, alerts firing and not firing, window filtering and segments."""

from __future__ import annotations

import pytest

from ecorec.core.config import ConfigError, HealthConfig, load_config
from ecorec.core.entities import User
from ecorec.metrics.health import alerts, compute_health, health_index, parse_window
from tests.metrics.health_log import END, D, e, table

WINDOW = {"label": "7d", "start_iso": "a", "end_iso": "b"}


def _metrics(**values: float | None) -> dict:
    user = {
        "retention_d1": values.get("retention_d1", 0.4),
        "effective_play_rate": values.get("effective_play_rate", 0.8),
        "negative_feedback_rate": values.get("negative_feedback_rate", 0.1),
        "negative_feedback_rate_previous": values.get("negative_feedback_rate_previous", 0.1),
    }
    eco = {
        "gini": values.get("gini", 0.5),
        "long_tail_share": values.get("long_tail_share", 0.4),
        "category_coverage": values.get("category_coverage", 0.9),
    }
    biz = {
        "ad_impressions": values.get("ad_impressions", 100),
        "fill_rate": values.get("fill_rate", 0.5),
        "roas": values.get("roas", 2.0),
        "ad_load": values.get("ad_load", 0.1),
    }
    return {"window": WINDOW, "user_value": user, "ecosystem": eco, "business": biz}


def test_components_and_weighted_index() -> None:
    m = _metrics()
    # user (0.4 + 0.8 + 0.9) / 3 = 0.7; ecosystem (0.5 + 0.4 + 0.9) / 3 = 0.6;
    # business (0.5 + min(1, 2 / 1) + 1 [ad load within 0.2]) / 3 = 2.5 / 3
    index = health_index(m, HealthConfig())
    assert index["components"] == pytest.approx(
        {"user_value": 0.7, "ecosystem": 0.6, "business": 2.5 / 3}
    )
    assert index["value"] == pytest.approx((0.7 + 0.6 + 2.5 / 3) / 3)
    weighted = HealthConfig(weights={"user_value": 2.0, "ecosystem": 1.0, "business": 0.0})
    assert health_index(m, weighted)["value"] == pytest.approx((2 * 0.7 + 0.6) / 3)


def test_index_skips_dimensions_without_data_and_penalises_ad_load() -> None:
    no_ads = _metrics(ad_impressions=0, roas=None, ad_load=0.0)
    index = health_index(no_ads, HealthConfig())
    assert index["components"]["business"] is None
    assert index["value"] == pytest.approx((0.7 + 0.6) / 2)
    heavy = _metrics(ad_load=0.4, fill_rate=1.0, roas=0.5)
    # (1 + 0.5 + 0.2 / 0.4) / 3
    assert health_index(heavy, HealthConfig())["components"]["business"] == pytest.approx(2 / 3)


def test_alerts_fire_past_their_thresholds() -> None:
    m = _metrics(gini=0.7, long_tail_share=0.2, ad_load=0.25, negative_feedback_rate=0.12)
    fired = {a["metric"]: a for a in alerts(m, HealthConfig())}
    assert set(fired) == {"gini", "long_tail_share", "ad_load", "negative_feedback_rate"}
    assert fired["gini"]["value"] == 0.7 and fired["gini"]["threshold"] == 0.6
    assert fired["gini"]["window"] == "7d"
    assert fired["long_tail_share"]["threshold"] == 0.3
    assert fired["ad_load"]["threshold"] == 0.2
    # 0.12 > 0.1 * (1 + 0.1): rising by more than 10%
    assert fired["negative_feedback_rate"]["threshold"] == pytest.approx(0.11)
    assert "rose" in fired["negative_feedback_rate"]["message"]


def test_alerts_stay_quiet_within_thresholds() -> None:
    m = _metrics(gini=0.6, long_tail_share=0.3, ad_load=0.2, negative_feedback_rate=0.109)
    assert alerts(m, HealthConfig()) == []
    assert alerts(_metrics(negative_feedback_rate_previous=None), HealthConfig()) == []
    strict = HealthConfig(alerts={"gini_max": 0.4, "negative_rise": 0.0})
    assert {a["metric"] for a in alerts(m, strict)} == {"gini", "negative_feedback_rate"}


def test_config_section_rejects_unknown_keys() -> None:
    cfg = load_config(None, {"health": {"alerts": {"gini_max": 0.5}, "top_categories": 3}})
    assert cfg.health.alerts.gini_max == 0.5 and cfg.health.alerts.long_tail_min == 0.3
    with pytest.raises(ConfigError, match="health.alerts.gini_mx"):
        load_config(None, {"health": {"alerts": {"gini_mx": 0.5}}})


USERS = [User("u1", segment="heavy"), User("u2", segment="casual")]
LOG = [
    e(2 * D, "u1", "impression", item_id="i1", position=0),  # previous 7d window
    e(4 * D, "u1", "impression", item_id="i1", position=0),
    e(4 * D + 1, "u1", "not_interested", item_id="i1"),
    e(9.5 * D, "u2", "impression", item_id="i2", position=0),
    e(9.5 * D + 1, "u2", "play", item_id="i2", value=3.0),
    e(10 * D, "u2", "play", item_id="i2", value=50.0),  # at the end: outside [start, end)
]


def test_window_filtering() -> None:
    week = compute_health(table(LOG), USERS, "7d", now=END)
    assert week["events"] == 4
    assert week["user_value"]["negative_feedback_rate"] == pytest.approx(1 / 2)
    assert week["user_value"]["negative_feedback_rate_previous"] == 0.0
    assert week["alerts"][-1]["metric"] == "negative_feedback_rate"  # 0 -> 0.5
    day = compute_health(table(LOG), USERS, "24h", now=END)
    assert day["events"] == 2 and day["user_value"]["effective_play_rate"] == 0.0
    assert day["window"]["seconds"] == D and day["window"]["end"] == END
    # default end: just after the newest event, so the 50 s play is in
    latest = compute_health(table(LOG), USERS, "24h")
    assert latest["events"] == 3 and latest["user_value"]["effective_play_rate"] == 0.5


def test_segment_keeps_only_its_users() -> None:
    heavy = compute_health(table(LOG), USERS, "7d", now=END, segment="heavy")
    assert heavy["segment"] == "heavy" and heavy["events"] == 2
    assert heavy["user_value"]["active_users"] == 1
    assert heavy["user_value"]["effective_play_rate"] is None
    casual = compute_health(table(LOG), USERS, "7d", now=END, segment="casual")
    assert casual["user_value"]["negative_feedback_rate"] == 0.0
    assert casual["user_value"]["effective_play_rate"] == 0.0


@pytest.mark.parametrize("text", ["7", "d7", "-1d", "0h", "7 days"])
def test_bad_windows_are_named(text: str) -> None:
    with pytest.raises(ValueError, match="window must look like"):
        parse_window(text)


def test_empty_log_needs_now() -> None:
    with pytest.raises(ValueError, match="no events"):
        compute_health(table([]), USERS, "7d")
