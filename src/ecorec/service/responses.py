"""Responses every ``/v1/`` route may give besides its own, as documented in the OpenAPI spec.

They are declared once here and attached to each router in :func:`ecorec.service.app.create_app`,
so the spec that clients (and the schemathesis suite, ``tests/service/test_schemathesis.py``)
read matches what the middleware, the key check and FastAPI's body parsing do. Each names the
body it carries (``{"detail": ...}``), so a client can rely on its shape, not only its status.
"""

from __future__ import annotations

from ecorec.service.schemas import ErrorResponse

#: status -> OpenAPI response object, for the routers of the ``/v1/`` API
LIMITED: dict[int | str, dict[str, object]] = {
    # FastAPI's answer to a body it cannot decode as text (malformed JSON is a 422);
    # routes without a body never give it
    400: {"model": ErrorResponse, "description": "the request body is not UTF-8 text"},
    401: {
        "model": ErrorResponse,
        "description": "no valid API key (`Authorization: Bearer` or `X-API-Key`)",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    403: {
        "model": ErrorResponse,
        "description": "the key's role may not call this route, or a user token names another user",
    },
    413: {
        "model": ErrorResponse,
        "description": "the request body is over `[service] max_body_bytes`",
    },
    429: {
        "model": ErrorResponse,
        "description": "this API key's rate limit is exceeded; see Retry-After (seconds)",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}
