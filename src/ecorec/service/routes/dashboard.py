"""The health dashboard (``/dashboard``) and the health reports (``/v1/admin/health``).

Who may see what: the JSON reports need an ``admin`` key, like every other operator route.
The page shows aggregates only (rates, shares, the Gini, revenue totals; never a user, item or
advertiser id), but it is still business data, so it is off unless ``[service] dashboard =
true``, and then open without a key: a browser cannot send a bearer header, and a key in the
URL would end up in proxy logs and browser history. Turn it on where the service port is
reachable by operators only (an internal network, or a reverse proxy with its own login).
Both read the :class:`~ecorec.report.live.HealthMonitor`'s last refresh: nothing is computed on
a request.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import HTMLResponse

from ecorec.report.live import HealthMonitor, Snapshot
from ecorec.report.page import plotly_js
from ecorec.service.app import ServiceState, get_state
from ecorec.service.auth import Role, require
from ecorec.service.schemas import ErrorResponse

router = APIRouter(tags=["health"])
admin_router = APIRouter(
    prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require(Role.ADMIN))]
)
#: a browser may keep plotly.js a day: it changes only with the installed plotly
_JS_CACHE = "public, max-age=86400"
_RETRY = "30"


def _monitor(state: ServiceState) -> HealthMonitor:
    if state.health is None:  # lifespan not run (a test app without it)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "health is not measured here")
    return state.health


def _snapshot(monitor: HealthMonitor) -> Snapshot:
    snapshot = monitor.snapshot
    if snapshot is None:
        why = monitor.error or "the first health computation is still running"
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"no health report yet: {why}",
            headers={"Retry-After": _RETRY},
        )
    return snapshot


def _dashboard_on(state: ServiceState) -> None:
    if not state.config.service.dashboard:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "the dashboard is off: set [service] dashboard = true to serve it",
        )


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(state: Annotated[ServiceState, Depends(get_state)]) -> HTMLResponse:
    """The health dashboard page of ``[health] window`` (404 while it is off)."""
    _dashboard_on(state)
    snapshot = _snapshot(_monitor(state))
    if snapshot.page is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the page is not rendered yet")
    age = f"{max(0.0, time.time() - snapshot.computed_at):.0f}"
    return HTMLResponse(snapshot.page, headers={"Cache-Control": "no-cache", "X-Health-Age": age})


@router.get("/dashboard/plotly.js", include_in_schema=False)
def plotly_library(state: Annotated[ServiceState, Depends(get_state)]) -> Response:
    """plotly.js from the installed ``plotly`` package: the page needs no CDN."""
    _dashboard_on(state)
    return Response(
        plotly_js(),
        media_type="application/javascript",
        headers={"Cache-Control": _JS_CACHE},
    )


@admin_router.get(
    "/health",
    responses={
        404: {"model": ErrorResponse, "description": "the service does not measure this window"},
        503: {"model": ErrorResponse, "description": "no health report computed yet"},
    },
)
def health_report(
    state: Annotated[ServiceState, Depends(get_state)],
    response: Response,
    window: Annotated[
        str | None,
        Query(
            max_length=16,
            description="One of `[health] export_windows` (or the dashboard's window); "
            "default `[health] window`.",
        ),
    ] = None,
) -> dict[str, Any]:
    """The health report of a window, as ``ecorec health --json`` prints it.

    Served from the last background refresh; ``X-Health-Computed-At`` says when (epoch
    seconds). The window ends at the newest event, as for the CLI.
    """
    monitor = _monitor(state)
    label = window or state.config.health.window
    snapshot = _snapshot(monitor)
    if label not in snapshot.reports:
        known = ", ".join(snapshot.reports) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"window {label!r} is not measured by this service (measured: {known}); "
            "add it to [health] export_windows",
        )
    response.headers["X-Health-Computed-At"] = f"{snapshot.computed_at:.3f}"
    return snapshot.reports[label]
