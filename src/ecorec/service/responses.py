"""Responses every ``/v1/`` route may give besides its own, as documented in the OpenAPI spec.

They are declared once here and attached to each router in :func:`ecorec.service.app.create_app`,
so the spec that clients (and the schemathesis suite) read matches what the middleware does.
"""

from __future__ import annotations

#: status -> OpenAPI response object, for the routers of the ``/v1/`` API
LIMITED: dict[int | str, dict[str, object]] = {
    413: {"description": "the request body is over `[service] max_body_bytes`"},
    429: {
        "description": "this API key's rate limit is exceeded; see Retry-After (seconds)",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}
