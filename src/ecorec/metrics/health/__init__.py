"""Health metrics over the EventLog: user value, ecosystem, business, fairness, index, alerts.

Every metric is SQL over one window of events in DuckDB (DESIGN.md §4: health metrics are SQL
over events), computed for any window and, when asked, for one user segment. The definitions
are in the docstrings of the dimension modules; a metric the log has no data for is ``None``.

Example:
    >>> from ecorec.core.entities import User
    >>> from ecorec.core.events import Event, EventType
    >>> from ecorec.data.events import events_to_table
    >>> log = events_to_table([Event("e1", 100.0, "u1", EventType.PLAY, item_id="i1", value=30.0)])
    >>> report = compute_health(log, [User("u1")], window="1d", now=200.0)
    >>> report["user_value"]["effective_play_rate"], report["ecosystem"]["gini"]
    (1.0, None)

"""

from __future__ import annotations

from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health.business import business
from ecorec.metrics.health.ecosystem import ecosystem
from ecorec.metrics.health.fairness import fairness
from ecorec.metrics.health.frame import (
    CatalogSource,
    EventSource,
    HealthFrame,
    Window,
    catalog_tables,
    latest_ts,
    load_frame,
    parse_window,
)
from ecorec.metrics.health.index import alerts, health_index
from ecorec.metrics.health.sentiment import comment_score
from ecorec.metrics.health.user_value import user_value


def make_window(label: str, now: float) -> Window:
    """The window of length ``label`` (``7d``...) that ends at ``now`` (exclusive)."""
    return Window(label, now - parse_window(label), now)


def metrics_of(frame: HealthFrame, config: HealthConfig) -> dict[str, Any]:
    """Every metric, the index and the alerts of a loaded frame."""
    users = user_value(frame, config)
    (events,) = frame.one("SELECT count(*) FROM ev")
    report: dict[str, Any] = {
        "window": {**frame.window.as_dict(), "observed_start": frame.observed_start},
        "segment": frame.segment,
        "events": events,
        "user_value": users,
        "ecosystem": ecosystem(frame, config),
        "business": business(frame, users["active_users"]),
        "fairness": fairness(frame, config),
    }
    report["health_index"] = health_index(report, config)
    report["alerts"] = alerts(report, config)
    return report


def compute_health(
    events: EventSource,
    catalog: CatalogSource | dict[str, Any],
    window: str | None = None,
    now: float | None = None,
    segment: str | None = None,
    config: HealthConfig | None = None,
) -> dict[str, Any]:
    """Health of the platform over ``window`` ending at ``now``.

    Args:
        events: an EventLog, an Arrow table in ``EVENT_SCHEMA`` or a Parquet export folder.
        catalog: a Catalog, an iterable of entities, or tables from :func:`catalog_tables`.
        window: its length (``24h``, ``7d``, ``30d``); default the config's ``window``.
        now: the window's (exclusive) end in epoch seconds; default just after the newest
            event, so the health of a log replayed later is that of its last days.
        segment: only users of this catalog ``segment``.
        config: definitions, weights and thresholds (:class:`HealthConfig`).

    Returns:
        ``window``, ``segment``, ``events``, ``user_value``, ``ecosystem``, ``business``,
        ``fairness``, ``health_index`` and ``alerts`` (JSON-able).

    Raises:
        ValueError: a malformed window, or a log without events and no ``now``.

    """
    cfg = config or HealthConfig()
    frame = window_frame(events, catalog, window or cfg.window, now, segment)
    try:
        return metrics_of(frame, cfg)
    finally:
        frame.close()


def window_frame(
    events: EventSource,
    catalog: CatalogSource | dict[str, Any],
    window: str,
    now: float | None = None,
    segment: str | None = None,
) -> HealthFrame:
    """The loaded frame of ``window`` ending at ``now`` (default: just after the newest event).

    Raises:
        ValueError: a malformed window, or a log without events and no ``now``.

    """
    length = parse_window(window)
    if now is None:
        newest = latest_ts(events)
        if newest is None:
            raise ValueError("the event log has no events: nothing to measure (pass now=...)")
        now = newest + 1e-3
    tables = catalog if isinstance(catalog, dict) else catalog_tables(catalog)
    return load_frame(events, tables, Window(window, now - length, now), segment)


__all__ = [
    "HealthFrame",
    "Window",
    "alerts",
    "catalog_tables",
    "comment_score",
    "compute_health",
    "health_index",
    "latest_ts",
    "load_frame",
    "make_window",
    "metrics_of",
    "parse_window",
    "window_frame",
]
