"""Prometheus metrics of one app instance.

Each app gets its own :class:`CollectorRegistry` (no import-time globals: two apps in one test
process do not collide). Labels are bounded sets — route templates, methods, status classes,
event types, fallback reasons — never user or item ids, which would explode the series count
and leak personal data into monitoring.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ecorec.core.events import EventType

#: Latency buckets in seconds, dense around the 20-50 ms targets.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
_KNOWN_TYPES = frozenset(t.value for t in EventType)


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
            "Recommendations whose impressions could not be logged.",
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def count_event(self, kind: str, outcome: str) -> None:
        # the type was validated, but keep the label set closed whatever happens upstream
        self.events.labels(kind if kind in _KNOWN_TYPES else "other", outcome).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
