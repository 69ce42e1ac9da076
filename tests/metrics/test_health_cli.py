"""``ecorec health`` on a generated platform, and compute_health over a real SQLite EventLog."""

from __future__ import annotations

import json

import pytest
from pyarrow import concat_tables
from typer.testing import CliRunner

from ecorec.cli.app import app
from ecorec.core.config import load_config
from ecorec.data.stores import Stores
from ecorec.metrics.health import compute_health, latest_ts
from tests.metrics.health_log import approx_tree

pytestmark = pytest.mark.integration


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('health') / 'p.db'}"
    run("generate", "--users", "150", "--items", "600", "--days", "3", "--seed", "3", "--db", url)
    return url


def test_health_json_has_every_dimension(db: str) -> None:
    report = json.loads(run("health", "--db", db, "--window", "7d", "--json").stdout)
    assert set(report) >= {
        "window",
        "user_value",
        "ecosystem",
        "business",
        "fairness",
        "health_index",
        "alerts",
    }
    for dimension, keys in {
        "user_value": ("retention_d1", "retention_d7", "retention_d30", "negative_feedback_rate"),
        "ecosystem": ("gini", "long_tail_share", "category_coverage", "creator_tier_share"),
        "business": ("ecpm", "fill_rate", "ad_load", "arpu", "roas"),
        "fairness": ("exposure_variance", "conversion_rate_gap"),
    }.items():
        assert set(keys) <= set(report[dimension]), dimension
    # the generator shows items, ads at half the requests and is billed at list price
    assert 0.0 < report["ecosystem"]["gini"] < 1.0
    assert report["business"]["ecpm"] > 0 and report["business"]["revenue_basis"] == "list_price"
    assert 0.3 < report["business"]["fill_rate"] < 0.7
    assert 0.0 < report["health_index"]["value"] <= 1.0
    assert all({"metric", "value", "threshold", "window"} <= set(a) for a in report["alerts"])


def test_health_window_segment_and_human_output(db: str) -> None:
    day = json.loads(run("health", "--db", db, "--window", "24h", "--json").stdout)
    week = json.loads(run("health", "--db", db, "--json").stdout)
    assert 0 < day["events"] < week["events"]
    heavy = json.loads(run("health", "--db", db, "--segment", "heavy", "--json").stdout)
    assert 0 < heavy["events"] < week["events"]
    human = run("health", "--db", db).stdout
    assert "gini" in human and "health index" in human
    bad = run("health", "--db", db, "--window", "soon", code=1)
    assert "window must look like" in bad.stderr


def test_eventlog_and_arrow_give_the_same_numbers(db: str) -> None:
    with Stores(load_config(None, {"storage": {"database_url": db}}).storage) as stores:
        arrow = concat_tables(list(stores.events.scan_batches()))
        newest = latest_ts(stores.events)
        assert newest == pytest.approx(max(arrow.column("ts").to_pylist()))
        from_log = compute_health(stores.events, stores.catalog, "7d")
        from_arrow = compute_health(arrow, stores.catalog, "7d")
    assert from_log == approx_tree(from_arrow)  # parallel float sums: last bits may differ
