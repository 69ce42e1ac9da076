"""pCTR/pCVR fallback: hand-computed shrinkage, and learning from a real EventLog."""

from __future__ import annotations

import pytest

from ecorec.ads.estimates import AdEstimates, Counts, EstimatesConfig, count_ad_events
from ecorec.core.events import Event, EventType
from ecorec.data.urls import open_event_log


def test_shrinkage_hand_computed():
    config = EstimatesConfig(ctr_prior=100.0, cvr_prior=10.0, default_ctr=0.01, default_cvr=0.1)
    counts = {"a": Counts(900, 45, 9), "b": Counts(100, 5, 0), "c": Counts(0, 0, 0)}
    est = AdEstimates.fit(counts, {"a": "x", "b": "x", "c": "y"}, config)
    g_ctr = (50 + 100 * 0.01) / (1000 + 100)  # 51 / 1100
    g_cvr = (9 + 10 * 0.1) / (50 + 10)
    x_ctr = (50 + 100 * g_ctr) / (1000 + 100)
    assert est.global_ctr == pytest.approx(g_ctr) and est.global_cvr == pytest.approx(g_cvr)
    assert est.rates("a", "x")[0] == pytest.approx((45 + 100 * x_ctr) / 1000)
    assert est.rates("b", "x")[1] == pytest.approx((0 + 10 * (9 + 10 * g_cvr) / 60) / 15)
    assert est.rates("c", "y") == pytest.approx((g_ctr, g_cvr))  # no data: its advertiser's
    assert est.rates("new", "x") == est.advertiser_rates["x"]
    assert est.rates("new", "nobody") == (est.global_ctr, est.global_cvr)


def test_many_impressions_approach_the_empirical_rate():
    est = AdEstimates.fit({"a": Counts(1_000_000, 30_000, 600)}, {"a": "x"}, EstimatesConfig())
    ctr, cvr = est.rates("a", "x")
    assert ctr == pytest.approx(0.03, rel=1e-3) and cvr == pytest.approx(0.02, rel=0.01)


def test_learns_from_the_event_log_and_round_trips(tmp_path):
    log = open_event_log(f"sqlite:///{tmp_path / 'events.db'}")
    events = [
        Event(f"i{k}", 1.0 + k, "u", EventType.IMPRESSION, ad_id="a", position=3) for k in range(40)
    ]
    events += [Event(f"c{k}", 100.0 + k, "u", EventType.CLICK, ad_id="a") for k in range(4)]
    events += [Event("v0", 200.0, "u", EventType.CONVERSION, ad_id="a", value=12.5)]
    events += [Event("ic", 1.0, "u", EventType.IMPRESSION, item_id="item")]  # content: ignored
    log.append(events)
    counts = count_ad_events(log)
    assert counts == {"a": Counts(40, 4, 1)}
    est = AdEstimates.fit(counts, {"a": "x"}, EstimatesConfig())
    est.save(tmp_path)
    again = AdEstimates.load(tmp_path, EstimatesConfig())
    assert again.rates("a", "x") == pytest.approx(est.rates("a", "x"))
    assert again.counts == est.counts
    log.close()
