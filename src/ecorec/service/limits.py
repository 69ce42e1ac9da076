"""The service's limits as plain ASGI middleware: body size, and the per-key rate limit.

:class:`BodyLimit` answers 413 before any route reads the body. A ``Content-Length`` over the
limit is refused at once. A body without one (chunked transfer encoding) is read up to one
byte past the limit and refused if it gets there, so a client cannot get an oversized body
through by leaving the header out; a body under the limit is handed to the app unchanged.

:class:`RateLimitAndMetrics` answers 429 with ``Retry-After`` to a key over its rate on the
``/v1/`` routes and records every request's route, status and latency. Both are plain ASGI
rather than Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``), whose request
and response streams cost the event loop more per request than everything else here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from ecorec.service.metrics import ServiceMetrics
    from ecorec.service.ratelimit import RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse HTTP request bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class RateLimitAndMetrics:
    """429 for a key over its rate on ``/v1/``; every request's metrics (route, status, time)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, metrics: ServiceMetrics) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before responding

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        key = presented_key(Headers(scope=scope)) if scope["path"].startswith("/v1/") else None
        wait = self.limiter.acquire(key) if key else None
        try:
            if wait is not None:
                refusal = JSONResponse(
                    {"detail": f"rate limit exceeded: retry in {wait} s"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
                await refusal(scope, receive, recorded)
            else:
                await self.app(scope, receive, recorded)
        finally:
            # the router leaves the matched route in the scope; its template keeps ids out
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(
                route, scope["method"], status, time.perf_counter() - started
            )


def presented_key(headers: Headers) -> str | None:
    """The API key the caller presents (checked later by ``require``), or None."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that returns ``messages`` first, then defers to ``then``."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
