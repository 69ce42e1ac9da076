"""``ecorec report``: the figures carry the window's numbers and the HTML file is self-contained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecorec.cli.app import app
from ecorec.core.config import StorageConfig
from ecorec.data.stores import Stores
from ecorec.metrics.health import compute_health
from ecorec.report import CHARTS, build_charts, dashboard_data, render_page
from ecorec.report.data import latest_simulation
from ecorec.report.page import plotly_js
from tests.metrics.health_log import approx_tree

pytestmark = pytest.mark.integration


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'p.db'}"
    run("generate", "--users", "150", "--items", "600", "--days", "3", "--seed", "3", "--db", url)
    return url


@pytest.fixture(scope="module")
def data(db: str) -> dict:
    with Stores(StorageConfig(database_url=db)) as stores:
        return dashboard_data(stores.events, stores.catalog, window="7d")


def test_dashboard_data_holds_the_health_report(db: str, data: dict) -> None:
    with Stores(StorageConfig(database_url=db)) as stores:
        report = compute_health(stores.events, stores.catalog, window="7d")
    # DuckDB sums in parallel, so float sums may differ in the last bits between two runs
    assert data["health"] == approx_tree(report)
    # three generated days: three daily steps (the oldest partial), each with activity
    points = data["series"]["points"]
    assert data["series"]["step"] == 86_400.0 and len(points) in (3, 4)
    assert all(p["active_users"] > 0 for p in points)
    assert sum(p["ad_revenue"] or 0 for p in points) == pytest.approx(
        report["business"]["ad_revenue"]
    )


def test_every_figure_carries_data(data: dict) -> None:
    charts = build_charts(data)
    assert [c.chart_id for c in charts] == [
        "chart-index",
        "chart-user-value",
        "chart-ecosystem",
        "chart-business",
        "chart-revenue",
        "chart-lorenz",
        "chart-long-tail",
        "chart-creator-tiers",
        "chart-retention",
        "chart-fairness",
    ]
    assert len(charts) == len(CHARTS)
    by_id = {c.chart_id: c.figure for c in charts}
    for chart_id, figure in by_id.items():
        assert figure.data, f"{chart_id} has no trace"
        assert any(len(t.y) > 0 for t in figure.data), chart_id
    eco = data["health"]["ecosystem"]
    # the Lorenz title states the window's Gini, its curve ends at (1, 1)
    lorenz = by_id["chart-lorenz"]
    assert f"{eco['gini']:.3f}" in lorenz.layout.title.text
    assert (lorenz.data[0].x[-1], lorenz.data[0].y[-1]) == (1.0, 1.0)
    gini_line = next(t for t in by_id["chart-ecosystem"].data if t.name == "exposure Gini")
    assert list(gini_line.y) == [p["gini"] for p in data["series"]["points"]]
    index = data["health"]["health_index"]
    assert list(by_id["chart-index"].data[0].y) == [
        v for v in index["components"].values() if v is not None
    ]
    tiers = {t.name for t in by_id["chart-creator-tiers"].data}
    assert tiers == set(eco["creator_tier_share"])


def test_a_window_without_events_draws_no_data_notes(db: str) -> None:
    with Stores(StorageConfig(database_url=db)) as stores:
        empty = dashboard_data(stores.events, stores.catalog, window="1d", now=1.0e6)
    assert empty["health"]["events"] == 0 and empty["series"]["points"] == []
    charts = build_charts(empty)
    series = next(c for c in charts if c.chart_id == "chart-user-value").figure
    assert not series.data
    assert series.layout.annotations[0].text == "no data in this window"
    assert "no data in this window" in render_page(empty, plotly_src="/dashboard/plotly.js")


def _scripts_from_network(page: str) -> list[str]:
    return re.findall(r"<script[^>]+src=[\"']?(?:https?:)?//", page, flags=re.IGNORECASE)


def test_page_inlines_plotly_and_loads_nothing_from_the_network(data: dict) -> None:
    page = render_page(data)
    assert _scripts_from_network(page) == []
    assert "<script src" not in page.lower().replace("'", "")
    assert plotly_js()[:2000] in page  # the library itself, inline
    assert page.count("Plotly.newPlot(") == len(CHARTS)
    assert "cdn.plot.ly" not in page.split("<script>", 2)[0]
    index = data["health"]["health_index"]["value"]
    assert f"<div class='value' id='health-index'>{index:.3f}</div>" in page
    for alert in data["health"]["alerts"]:
        assert alert["message"].replace("'", "&#x27;").replace(">", "&gt;") in page


def test_served_page_points_at_the_local_library(data: dict) -> None:
    page = render_page(data, plotly_src="/dashboard/plotly.js")
    assert "<script src='/dashboard/plotly.js'></script>" in page
    assert plotly_js()[:2000] not in page
    for remote in ("https://cdn.plot.ly/plotly.min.js", "//cdn.example.com/p.js"):
        with pytest.raises(ValueError, match="local path"):
            render_page(data, plotly_src=remote)


def test_a_simulation_result_adds_the_policy_comparison(data: dict, tmp_path: Path) -> None:
    result = {
        "simulation": {"users": 600, "days": 30},
        "comparison": {
            "gini": {"baseline": 0.98, "no_dpp": 0.985},
            "creator_retention": {"baseline": 0.11, "no_dpp": None},
        },
    }
    path = tmp_path / "p-simulation.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    compared = {**data, "comparison": latest_simulation(path)}
    charts = build_charts(compared)
    assert len(charts) == len(CHARTS) + 1
    table = charts[-1].figure.data[0]
    assert list(table.header.values) == ["metric", "baseline", "no_dpp"]
    assert [list(column) for column in table.cells.values] == [
        ["gini", "creator_retention"], ["0.98", "0.11"], ["0.985", "—"]
    ]  # fmt: skip
    assert "Policy comparison: 600 simulated users over 30 days" in render_page(compared)
    # no file, a broken file or another JSON: no comparison, no failure
    assert latest_simulation(tmp_path / "none.json") is None
    path.write_text("{not json", encoding="utf-8")
    assert latest_simulation(path) is None
    path.write_text('{"arms": {}}', encoding="utf-8")
    assert latest_simulation(path) is None
    assert len(build_charts(data)) == len(CHARTS)


def test_report_cli_writes_the_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.html"
    summary = json.loads(run("report", "--db", db, "--out", str(out), "--json").stdout)
    page = out.read_text(encoding="utf-8")
    assert summary["bytes"] == len(page.encode("utf-8")) and summary["window"] == "7d"
    assert _scripts_from_network(page) == [] and "Plotly.newPlot(" in page
    assert not list(out.parent.glob("*.partial"))
    human = run("report", "--db", db, "--out", str(out), "--window", "24h")
    assert "wrote" in human.stderr and "24h" in human.stderr
    bad = run("report", "--db", db, "--out", str(out), "--window", "soon", code=1)
    assert "window must look like" in bad.stderr
    missing = run("report", "--db", f"sqlite:///{tmp_path / 'none.db'}", code=1)
    assert "no database" in missing.stderr
