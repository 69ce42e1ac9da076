"""The served OpenAPI spec has every route, and matches the committed snapshot.

Regenerate ``docs/openapi.json`` after an intended API change with::

    UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/pytest tests/service/test_openapi.py

and review its diff: a change there is a change of the public contract.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ecorec.service import create_app
from tests.service.conftest import Service, cheap_config

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def spec_text() -> str:
    """The spec as committed: sorted keys, two-space indent, trailing newline."""
    spec = create_app(cheap_config("sqlite:///never-opened.db")).openapi()
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def test_served_spec_has_every_route(service: Service) -> None:
    paths: dict[str, Any] = service.client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/recommend"]
    assert "post" in paths["/v1/events"]
    assert "put" in paths["/v1/users/{user_id}/consent"]
    assert "get" in paths["/v1/users/{user_id}/export"]
    assert "delete" in paths["/v1/users/{user_id}"]
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)
    body = service.client.get("/openapi.json").json()["components"]["schemas"]
    assert body["RecommendRequest"]["properties"]["n"]["maximum"] == 200
    assert body["RecommendRequest"]["additionalProperties"] is False


def test_spec_matches_the_committed_snapshot() -> None:
    text = spec_text()
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.read_text(encoding="utf-8") == text, (
        "the API changed: review it, then regenerate docs/openapi.json "
        "(see this module's docstring)"
    )
