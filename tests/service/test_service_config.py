"""``[service]`` settings: CORS off unless origins are listed, the body limit, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecorec.core.config import ConfigError, load_config
from ecorec.service import create_app
from tests.service.conftest import Service

PREFLIGHT = {
    "Origin": "https://shop.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "Authorization, Content-Type",
}


def test_cors_is_off_by_default_and_on_for_listed_origins(service: Service) -> None:
    preflight = service.client.options("/v1/recommend", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    config = service.config.model_copy(deep=True)
    config.service.cors_origins = ["https://shop.example"]
    with TestClient(create_app(config)) as client:
        allowed = client.options("/v1/recommend", headers=PREFLIGHT)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.options("/v1/recommend", headers={**PREFLIGHT, "Origin": "https://evil"})
        assert "access-control-allow-origin" not in other.headers


def test_body_limit_comes_from_config(service: Service) -> None:
    config = service.config.model_copy(deep=True)
    config.service.max_body_bytes = 200
    with TestClient(create_app(config)) as client:
        body = {"user_id": service.user_ids[0], "n": 2, "context": {"pad": "x" * 300}}
        answer = client.post("/v1/recommend", json=body, headers=service.auth("client"))
        assert answer.status_code == 413
        assert "200 bytes" in answer.json()["detail"]


def test_service_settings_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ecorec.toml"
    path.write_text("[service.rate_limit]\nrequests_per_second = 5\nburst = 10\n")
    monkeypatch.setenv("ECOREC_SERVICE__RATE_LIMIT__ENABLED", "false")
    config = load_config(path)
    assert (config.service.rate_limit.requests_per_second, config.service.rate_limit.burst) == (
        5.0,
        10,
    )
    assert config.service.rate_limit.enabled is False
    path.write_text("[service]\nmax_body_byte = 10\n")
    with pytest.raises(ConfigError, match="max_body_byte"):
        load_config(path)
