"""Prometheus metrics of one app instance.

Each app gets its own :class:`CollectorRegistry` (no import-time globals: two apps in one test
process do not collide). Labels are bounded sets — route templates, methods, status classes,
event types, fallback reasons — never user or item ids, which would explode the series count
and leak personal data into monitoring.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ecorec.core.events import EventType

#: Latency buckets in seconds, dense around the 20-50 ms targets.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
_KNOWN_TYPES = frozenset(t.value for t in EventType)
#: The dimensions of a health report whose flat numbers become ``ecorec_health`` series.
HEALTH_DIMENSIONS = ("user_value", "ecosystem", "business", "fairness")
#: Metrics that can alert (see ecorec.metrics.health.index): each has a 0/1 series per window.
ALERT_METRICS = ("gini", "long_tail_share", "ad_load", "negative_feedback_rate")


class ServiceMetrics:
    """Request counts and latencies per route, fallbacks, event ingest counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ecorec_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ecorec_http_request_seconds",
            "HTTP request latency by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "ecorec_pipeline_seconds",
            "Time the pipeline took per recommend request.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "ecorec_fallbacks",
            "Degraded recommendations (a stage fell back or failed).",
            ["reason"],
            registry=self.registry,
        )
        self.events = Counter(
            "ecorec_events_ingested",
            "Events accepted by POST /v1/events, by type and outcome (stored or duplicate).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.impression_failures = Counter(
            "ecorec_impression_log_failures",
            "Impressions that could not be logged (a failed write, or dropped from a full queue).",
            registry=self.registry,
        )

        self.health = Gauge(
            "ecorec_health",
            "Health metrics (ecorec health --json) over a window ending at the newest event.",
            ["dimension", "metric", "window"],
            registry=self.registry,
        )
        self.health_index = Gauge(
            "ecorec_health_index",
            "The health index in [0, 1] over a window.",
            ["window"],
            registry=self.registry,
        )
        self.health_component = Gauge(
            "ecorec_health_component",
            "Score in [0, 1] of each dimension of the health index over a window.",
            ["dimension", "window"],
            registry=self.registry,
        )
        self.health_alert = Gauge(
            "ecorec_health_alert",
            "1 while the health alert on a metric fires over a window, else 0.",
            ["metric", "window"],
            registry=self.registry,
        )
        self._health_labels: dict[str, set[tuple[str, ...]]] = {}
        self._health_lock = threading.Lock()

    def set_health(self, window: str, report: dict[str, Any]) -> None:
        """Export one window's health report (the dict ``compute_health`` returns).

        Only the flat numbers of each dimension become series (nested maps such as the
        per-advertiser figures carry ids, which never become labels); a metric that has no
        value this time loses its series rather than keeping a stale one.
        """
        values: dict[tuple[str, ...], float] = {}
        for dimension in HEALTH_DIMENSIONS:
            for metric, value in report.get(dimension, {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values[(dimension, metric, window)] = float(value)
        index = report["health_index"]
        components = {
            (dimension, window): float(score)
            for dimension, score in index["components"].items()
            if score is not None
        }
        firing = {a["metric"] for a in report["alerts"]}
        with self._health_lock:
            stale = self._health_labels.get(window, set()) - set(values)
            for labels in stale:
                self.health.remove(*labels)
            for labels, value in values.items():
                self.health.labels(*labels).set(value)
            self._health_labels[window] = set(values)
            for dimension in index["components"]:
                if (dimension, window) in components:
                    self.health_component.labels(dimension, window).set(
                        components[(dimension, window)]
                    )
                elif (dimension, window) in _series(self.health_component):
                    self.health_component.remove(dimension, window)
            if index["value"] is not None:
                self.health_index.labels(window).set(float(index["value"]))
            elif (window,) in _series(self.health_index):
                self.health_index.remove(window)
            for metric in (*ALERT_METRICS, *sorted(firing - set(ALERT_METRICS))):
                self.health_alert.labels(metric, window).set(1.0 if metric in firing else 0.0)

    def set_health_reports(self, reports: dict[str, dict[str, Any]]) -> None:
        """Export the health report of each window (``{window: report}``)."""
        for window, report in reports.items():
            self.set_health(window, report)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def count_event(self, kind: str, outcome: str) -> None:
        # the type was validated, but keep the label set closed whatever happens upstream
        self.events.labels(kind if kind in _KNOWN_TYPES else "other", outcome).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def _series(gauge: Gauge) -> set[tuple[str, ...]]:
    """Label values of the series ``gauge`` has now."""
    return {tuple(s.labels.values()) for m in gauge.collect() for s in m.samples}
