"""The service's view of platform health: recomputed in the background, read from a cache.

A health computation loads a window of the event log into DuckDB (seconds on a large log), so
it never runs on a request: :class:`HealthMonitor` recomputes every window it watches once at
start and then every ``refresh_seconds`` on its own thread, and the routes (``/dashboard``,
``/v1/admin/health``) and the Prometheus gauges read the last result. A refresh that fails
keeps the previous result and records why, so a database hiccup does not blank the dashboard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health import compute_health
from ecorec.metrics.health.frame import CatalogSource, EventSource
from ecorec.report.data import dashboard_data, latest_simulation
from ecorec.report.page import render_page

log = logging.getLogger(__name__)

#: Where the service serves plotly.js; the page it renders points here.
PLOTLY_PATH = "/dashboard/plotly.js"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One refresh's results: health reports by window, and the rendered dashboard page."""

    computed_at: float
    reports: dict[str, dict[str, Any]]
    page: str | None = None


class HealthMonitor:
    """Health reports of a few windows, refreshed on a background thread.

    Args:
        events: the event log to measure.
        catalog: the catalog (users, items, creators, ads).
        config: the ``[health]`` section: the windows, the refresh period, the definitions.
        dashboard: also render the dashboard page (over ``config.window``) on each refresh.
        on_refresh: called with each refresh's reports by window (the service exports them
            as Prometheus gauges).

    Example:
        >>> monitor = HealthMonitor(stores.events, stores.catalog, HealthConfig())  # doctest: +SKIP
        >>> monitor.refresh().reports["7d"]["health_index"]["value"]  # doctest: +SKIP
        0.71

    """

    def __init__(
        self,
        events: EventSource,
        catalog: CatalogSource,
        config: HealthConfig,
        dashboard: bool = False,
        on_refresh: Callable[[dict[str, dict[str, Any]]], None] | None = None,
        simulation: Path | None = None,
    ) -> None:
        self.events = events
        self.catalog = catalog
        self.config = config
        self.dashboard = dashboard
        self.on_refresh = on_refresh
        #: the latest ``ecorec simulate`` result; its policy comparison joins the page
        self.simulation = simulation
        self.snapshot: Snapshot | None = None
        #: why the last refresh failed (None after a success)
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def windows(self) -> list[str]:
        """The windows measured: the exported ones, and the dashboard's when it is on."""
        windows = list(dict.fromkeys(self.config.export_windows))
        if self.dashboard and self.config.window not in windows:
            windows.append(self.config.window)
        return windows

    def refresh(self) -> Snapshot:
        """Recompute every window now (on the calling thread) and publish the result.

        Raises:
            ValueError: the log has no events yet, or a window is malformed.

        """
        started = time.time()
        reports: dict[str, dict[str, Any]] = {}
        page = None
        for window in self.windows:
            if self.dashboard and window == self.config.window:
                comparison = latest_simulation(self.simulation) if self.simulation else None
                data = dashboard_data(
                    self.events, self.catalog, window, config=self.config, comparison=comparison
                )
                reports[window] = data["health"]
                page = render_page(data, plotly_src=PLOTLY_PATH)
            else:
                reports[window] = compute_health(
                    self.events, self.catalog, window, config=self.config
                )
        snapshot = Snapshot(started, reports, page)
        self.snapshot, self.error = snapshot, None
        if self.on_refresh is not None:
            self.on_refresh(reports)
        log.info("health refreshed in %.2f s (%s)", time.time() - started, ", ".join(reports))
        return snapshot

    def _loop(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception as exc:  # keep serving the last good snapshot, say why
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("health refresh failed: %s", self.error)
            if self._stop.wait(self.config.refresh_seconds):
                return

    def start(self) -> None:
        """Refresh now and then every ``refresh_seconds``, on a daemon thread."""
        if self._thread is None and self.windows:
            self._thread = threading.Thread(target=self._loop, name="health-refresh", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread (waits for a refresh in progress to finish)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
