"""Policy files and the HTTP client that sends simulated traffic to a running service."""

from __future__ import annotations

import json

import httpx
import pytest

from ecorec.core.config import ConfigError, load_config
from ecorec.core.events import Event, EventType
from ecorec.simulate.policies import Policy, check_names, load_policy
from ecorec.simulate.server import HttpServer


def test_policy_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name = "nodpp"\nweight = 2\n[pipeline.rerank]\norder = ["rules", "ads"]\n')
    policy = load_policy(path)
    assert (policy.name, policy.weight) == ("nodpp", 2.0)
    config = policy.config(load_config(None))
    assert config.pipeline.rerank.order == ["rules", "ads"]
    assert config.pipeline.recall.channels == load_config(None).pipeline.recall.channels


def test_bad_policies_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nbudget = 3\n')
    with pytest.raises(ConfigError, match="budget"):
        load_policy(path)
    with pytest.raises(ConfigError, match="no such policy file"):
        load_policy(tmp_path / "missing.toml")
    wrong = Policy(name="w", pipeline={"rank": {"model": 3}})
    with pytest.raises(ConfigError, match="policy 'w'"):
        wrong.config(load_config(None))
    with pytest.raises(ConfigError, match="must differ"):
        check_names([Policy(name="a"), Policy(name="a")])


def test_http_server_speaks_the_service_api():
    seen: list[tuple[str, dict, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body, request.headers.get("x-api-key")))
        if request.url.path == "/v1/recommend":
            slot = {
                "item_id": "i1",
                "position": 0,
                "score": 1.0,
                "channel": "popular",
                "reasons": ["recall:popular"],
                "is_ad": False,
            }
            return httpx.Response(
                200, json={"request_id": "srv-1", "items": [slot], "degraded": False}
            )
        return httpx.Response(
            200, json={"received": 1, "stored": 1, "duplicates": 0, "dropped": 0, "degraded": False}
        )

    server = HttpServer("http://svc/", "k123", transport=httpx.MockTransport(handler))
    slots = server.recommend("u1", "sim-r1", 5.0, 8)
    assert [s.item_id for s in slots] == ["i1"] and slots[0].channel == "popular"
    server.feedback([Event("e1", 6.0, "u1", EventType.CLICK, item_id="i1", request_id="sim-r1")])
    (path1, body1, key1), (path2, body2, key2) = seen
    assert path1 == "/v1/recommend" and body1 == {"user_id": "u1", "n": 8} and key1 == "k123"
    assert path2 == "/v1/events" and key2 == "k123"
    # reactions carry the request id the service gave the slate, so they join its impressions
    assert body2["events"][0]["request_id"] == "srv-1"
    assert body2["events"][0]["type"] == "click"
