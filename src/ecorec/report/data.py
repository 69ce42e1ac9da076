"""Everything the dashboard draws, computed from one frame of the event log.

One :class:`~ecorec.metrics.health.HealthFrame` is loaded per window and every number is
taken from it: the health report (:func:`~ecorec.metrics.health.metrics_of`, the same dict
``ecorec health --json`` prints), then the per-step series and the distribution curves of
:mod:`ecorec.metrics.health.daily` over the tables the report left behind. Loading the frame is
most of the cost, so the page costs about one ``ecorec health`` call, whatever it shows.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health import metrics_of, window_frame
from ecorec.metrics.health.daily import exposure_curves, retention_curves, step_series
from ecorec.metrics.health.frame import CatalogSource, EventSource

log = logging.getLogger(__name__)


def dashboard_data(
    events: EventSource,
    catalog: CatalogSource | dict[str, Any],
    window: str | None = None,
    now: float | None = None,
    segment: str | None = None,
    config: HealthConfig | None = None,
    comparison: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The health report of ``window`` and the series and curves the dashboard plots.

    Arguments are those of :func:`~ecorec.metrics.health.compute_health`, and ``comparison``:
    an ``ecorec simulate`` result (see :func:`latest_simulation`) whose policy comparison the
    page shows too.

    Returns:
        ``{"health": report, "series": {"step", "points"}, "curves": {"lorenz", "long_tail",
        "items"}, "retention_curves": [...]}`` (JSON-able); ``health`` equals what
        ``compute_health`` returns for the same arguments.

    Raises:
        ValueError: a malformed window, or a log without events and no ``now``.

    """
    cfg = config or HealthConfig()
    frame = window_frame(events, catalog, window or cfg.window, now, segment)
    try:
        report = metrics_of(frame, cfg)
        return {
            "health": report,
            "series": step_series(frame, cfg.effective_play_seconds, cfg.head_share),
            "curves": exposure_curves(frame, cfg.head_share),
            "retention_curves": retention_curves(frame),
            "comparison": comparison,
        }
    finally:
        frame.close()


def latest_simulation(path: Path) -> dict[str, Any] | None:
    """The simulation result saved at ``path`` by ``ecorec simulate``, or None.

    A file that is missing, unreadable or not a simulation result is ignored (logged): the
    dashboard must not fail because of it.
    """
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the simulation result %s: %s", path, exc)
        return None
    if not isinstance(result, dict) or not isinstance(result.get("comparison"), dict):
        log.warning("ignoring %s: not an `ecorec simulate` result", path)
        return None
    return result
