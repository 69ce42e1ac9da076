"""The service's view of platform health: recomputed in the background, read from a cache.

A health computation loads a window of the event log into DuckDB (seconds on a large log), so
it never runs on a request: :class:`HealthMonitor` recomputes every window it watches once at
start and then every ``refresh_seconds`` on its own thread, and the routes (``/dashboard``,
``/v1/admin/health``) and the Prometheus gauges read the last result. A refresh that fails
keeps the previous result and records why, so a database hiccup does not blank the dashboard.

Given the ``storage`` configuration, the service's monitor computes in a child process (at a
lower CPU priority) instead of its own thread: reading a window out of the EventLog is Python
work that holds the GIL, and in the serving process it doubled the one-client latency and cut
event ingest to a third at 1M items (BENCHMARKS.md, service).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecorec.core.config import HealthConfig, StorageConfig
from ecorec.metrics.health import catalog_tables, compute_health
from ecorec.metrics.health.frame import CatalogSource, EventSource
from ecorec.report.data import dashboard_data, latest_simulation
from ecorec.report.page import render_page

log = logging.getLogger(__name__)

#: Where the service serves plotly.js; the page it renders points here.
PLOTLY_PATH = "/dashboard/plotly.js"
#: How often a refresh child checks that its server is still alive (seconds).
ORPHAN_CHECK_S = 1.0


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
        storage: StorageConfig | None = None,
    ) -> None:
        self.events = events
        self.catalog = catalog
        self.config = config
        self.dashboard = dashboard
        self.on_refresh = on_refresh
        #: the latest ``ecorec simulate`` result; its policy comparison joins the page
        self.simulation = simulation
        #: when set, refreshes run in a child process that opens these stores itself
        self.storage = storage
        self._pool: ProcessPoolExecutor | None = None
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
        page_window = self.config.window if self.dashboard else None
        if self.storage is None:
            reports, page = measure(
                self.events, self.catalog, self.config, self.windows, page_window, self.simulation
            )
        else:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_setup,
                    initargs=(os.getpid(),),
                )
            job = self._pool.submit(
                _measure_stores,
                self.storage,
                self.config,
                self.windows,
                page_window,
                self.simulation,
            )
            reports, page = job.result()
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
        """Stop the thread (waits for a refresh in progress to finish) and the child process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def measure(
    events: EventSource,
    catalog: CatalogSource,
    config: HealthConfig,
    windows: list[str],
    page_window: str | None = None,
    simulation: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Health reports of ``windows``, and the dashboard page of ``page_window`` (if any).

    The catalog's tables are read once for all the windows: they do not depend on the window,
    and on a 1M-item catalog reading them is most of a refresh.
    """
    reports: dict[str, dict[str, Any]] = {}
    page = None
    tables = catalog_tables(catalog)
    for window in windows:
        if window == page_window:
            comparison = latest_simulation(simulation) if simulation else None
            data = dashboard_data(events, tables, window, config=config, comparison=comparison)
            reports[window] = data["health"]
            page = render_page(data, plotly_src=PLOTLY_PATH)
        else:
            reports[window] = compute_health(events, tables, window, config=config)
    return reports, page


def _measure_stores(
    storage: StorageConfig,
    config: HealthConfig,
    windows: list[str],
    page_window: str | None,
    simulation: Path | None,
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """:func:`measure` over stores this (child) process opens itself."""
    from ecorec.data.stores import Stores

    with Stores(storage) as stores:
        return measure(stores.events, stores.catalog, config, windows, page_window, simulation)


def _child_setup(parent: int) -> None:
    """The child yields the CPU to the server, leaves Ctrl-C to it, and dies with it.

    The terminal sends SIGINT to the whole process group; the serving process shuts the child
    down itself, so the child ignores it rather than dying mid-read with a traceback. A server
    killed outright (SIGKILL, the OOM killer) cannot shut it down, and a pool worker waiting
    for work does not notice its parent is gone: a watchdog thread exits when the process is
    re-parented, so killed servers leave no children behind. ``parent`` is the server's pid,
    passed in: a server killed while the child was still starting is gone before it can ask.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(10)

    def follow_parent() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=follow_parent, name="follow-parent", daemon=True).start()
