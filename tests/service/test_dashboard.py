"""The dashboard page, the admin health report and the ``ecorec_health*`` Prometheus gauges.

The gauges and the report come from the service's background refresh; they must equal what
``compute_health`` (``ecorec health --json``) gives for the same window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ecorec.core.config import EcorecConfig
from ecorec.data.stores import Stores
from ecorec.metrics.health import compute_health
from ecorec.report.live import HealthMonitor
from ecorec.report.page import plotly_js
from ecorec.service.metrics import ALERT_METRICS, HEALTH_DIMENSIONS, ServiceMetrics
from tests.metrics.health_log import approx_tree
from tests.service.conftest import Service, make_platform, running_service


def wait_for_report(service: Service, window: str = "7d") -> dict[str, Any]:
    """The admin report of ``window`` once the first background refresh has published it."""
    monitor = service.client.app.state.service.health  # type: ignore[attr-defined]
    if monitor.snapshot is None:
        monitor.refresh()  # the same computation, run here instead of waiting for the thread
    response = service.client.get(
        "/v1/admin/health", params={"window": window}, headers=service.auth("admin")
    )
    assert response.status_code == 200, response.text
    assert float(response.headers["X-Health-Computed-At"]) > 0
    return response.json()


def gauges(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(name, sorted labels) -> value`` of every ``ecorec_health*`` sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ecorec_health"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_gauges_equal_compute_health(service: Service) -> None:
    report = wait_for_report(service, "7d")
    with Stores(service.config.storage) as stores:
        expected = compute_health(
            stores.events,
            stores.catalog,
            window="7d",
            now=report["window"]["end"],
            config=service.config.health,
        )
    # DuckDB sums in parallel, so float sums may differ in the last bits between two runs
    assert report == approx_tree(expected)
    found = gauges(service.client.get("/metrics").text)
    exported = 0
    for dimension in HEALTH_DIMENSIONS:
        for metric, value in expected[dimension].items():
            key = (
                "ecorec_health",
                (("dimension", dimension), ("metric", metric), ("window", "7d")),
            )
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert found[key] == pytest.approx(value), (dimension, metric)
                exported += 1
            else:  # None, maps, lists: no series
                assert key not in found, (dimension, metric)
    assert exported > 40
    index = expected["health_index"]
    assert found[("ecorec_health_index", (("window", "7d"),))] == pytest.approx(index["value"])
    for dimension, score in index["components"].items():
        key = ("ecorec_health_component", (("dimension", dimension), ("window", "7d")))
        assert found.get(key) == (pytest.approx(score) if score is not None else None)
    firing = {a["metric"] for a in expected["alerts"]}
    for metric in ALERT_METRICS:
        key = ("ecorec_health_alert", (("metric", metric), ("window", "7d")))
        assert found[key] == (1.0 if metric in firing else 0.0)
    # both default windows are exported
    assert ("ecorec_health_index", (("window", "24h"),)) in found


def test_no_ids_in_health_labels(service: Service) -> None:
    report = wait_for_report(service, "7d")
    labels = {v for _, pairs in gauges(service.client.get("/metrics").text) for _, v in pairs}
    advertisers = set(report["business"]["advertisers"])
    assert advertisers and not labels & advertisers
    assert not labels & set(service.user_ids)
    assert not any(re.fullmatch(r"[uic]\d+", v) for v in labels)


def test_admin_health_needs_an_admin_key_and_a_measured_window(service: Service) -> None:
    wait_for_report(service)
    assert service.client.get("/v1/admin/health").status_code == 401
    client_key = service.client.get("/v1/admin/health", headers=service.auth("client"))
    assert client_key.status_code == 403
    default = service.client.get("/v1/admin/health", headers=service.auth("admin"))
    assert default.json()["window"]["label"] == service.config.health.window
    other = service.client.get(
        "/v1/admin/health", params={"window": "30d"}, headers=service.auth("admin")
    )
    assert other.status_code == 404
    assert "export_windows" in other.json()["detail"] and "24h" in other.json()["detail"]


def test_dashboard_is_off_by_default(service: Service) -> None:
    assert service.config.service.dashboard is False
    for path in ("/dashboard", "/dashboard/plotly.js"):
        response = service.client.get(path)
        assert response.status_code == 404
        assert "[service] dashboard = true" in response.json()["detail"]


@pytest.fixture(scope="module")
def open_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = make_platform(tmp_path_factory.mktemp("dashboard"))
    data = config.model_dump()
    data["service"]["dashboard"] = True
    data["health"]["export_windows"] = ["24h"]  # the page's 7d window is measured anyway
    with running_service(EcorecConfig.model_validate(data)) as service:
        yield service


def test_dashboard_page_is_served_without_a_key(open_dashboard: Service) -> None:
    report = wait_for_report(open_dashboard, "7d")
    page = open_dashboard.client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script src='/dashboard/plotly.js'></script>" in html
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html)
    assert html.count("Plotly.newPlot(") == 10
    index = report["health_index"]["value"]
    assert f"id='health-index'>{index:.3f}<" in html
    assert not set(open_dashboard.user_ids) & set(re.findall(r"[\w-]+", html))
    js = open_dashboard.client.get("/dashboard/plotly.js")
    assert js.status_code == 200 and js.text == plotly_js()
    assert js.headers["content-type"].startswith("application/javascript")
    assert "max-age" in js.headers["cache-control"]


def test_monitor_keeps_the_last_report_when_a_refresh_fails(tmp_path: Path) -> None:
    config = make_platform(tmp_path)
    metrics = ServiceMetrics()
    with Stores(config.storage) as stores:
        monitor = HealthMonitor(
            stores.events, stores.catalog, config.health, on_refresh=metrics.set_health_reports
        )
        assert monitor.windows == ["24h", "7d"]
        first = monitor.refresh()
        assert set(first.reports) == {"24h", "7d"} and first.page is None
        monitor.events = tmp_path / "no-such-export"  # the log becomes unreadable
        monitor.start()
        monitor.close()
        assert monitor.snapshot is first
        assert monitor.error is not None and "no-such-export" in monitor.error
    assert b'ecorec_health_index{window="7d"}' in metrics.render()
