"""Liveness, readiness and metrics: what an orchestrator and Prometheus poll.

``/healthz`` only says the process answers; ``/readyz`` says it can serve (pipeline built,
stores answering), so a load balancer keeps traffic away while models load or a store is down.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from ecorec.core.entities import Item
from ecorec.service.app import ServiceState, get_state

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """``/readyz``'s body, the same shape for 200 and 503 so a probe can log why.

    ``degraded`` names the fallbacks in use (profiles from process memory, events waiting in
    the outbox). They leave the service ready: taking every replica out of rotation because
    Redis or NATS is down would turn a degraded feed into no feed.
    """

    status: Literal["ready", "not ready"]
    problems: list[str]
    degraded: list[str] = []
    model_version: str | None


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and answering."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready; `problems` says why"}},
)
def readyz(state: Annotated[ServiceState, Depends(get_state)]) -> JSONResponse:
    """Readiness: 200 when the pipeline is built and every store answers, else 503."""
    problems: list[str] = []
    if state.pipeline is None:
        problems.append(f"pipeline: {state.error or 'not built'}")
    checks: dict[str, Any] = {
        "events": lambda: state.stores.events.count(start=0, end=0),
        "catalog": lambda: state.stores.catalog.count(Item),
        "profiles": lambda: state.stores.profiles.get("__readyz__"),
    }
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # any failure means "do not send traffic here"
            log.warning("readiness: %s store failed: %s", name, exc)
            problems.append(f"{name}: {type(exc).__name__}")
    degraded = []
    if getattr(state.stores.profiles, "degraded", False):
        degraded.append("profiles: server unreachable, serving from process memory")
    if state.nearline is not None and state.nearline.degraded:
        degraded.append(f"stream: unreachable, {state.nearline.pending} events in the outbox")
    code = status.HTTP_503_SERVICE_UNAVAILABLE if problems else status.HTTP_200_OK
    body = {
        "status": "not ready" if problems else "ready",
        "problems": problems,
        "degraded": degraded,
        "model_version": state.model_version,
    }
    return JSONResponse(body, status_code=code)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "the Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(state: Annotated[ServiceState, Depends(get_state)]) -> Response:
    """Prometheus text: request counts and latencies per route, fallbacks, ingest counts."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
