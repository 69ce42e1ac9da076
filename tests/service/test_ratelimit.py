"""Per-key rate limit: a burst, then 429 with Retry-After; other keys and health unaffected."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ecorec.core.config import RateLimitConfig
from ecorec.service import create_app
from ecorec.service.ratelimit import RateLimiter
from tests.service.conftest import Service


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(requests_per_second=2, burst=3), clock)
    assert [limiter.acquire("a") for _ in range(4)] == [None, None, None, 1]
    clock.now += 0.5  # one token back at 2/s
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") == 1
    clock.now += 10  # refills to the burst, not beyond
    assert [limiter.acquire("a") for _ in range(4)] == [None, None, None, 1]
    assert limiter.acquire("b") is None  # keys do not share a bucket


def test_retry_after_is_whole_seconds_until_a_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(requests_per_second=0.1, burst=1), clock)
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") == 10
    clock.now += 7.5
    assert limiter.acquire("k") == 3  # 2.5 s left, rounded up
    clock.now += 2.5
    assert limiter.acquire("k") is None


def test_tracked_keys_are_bounded_and_disabled_means_unlimited() -> None:
    limiter = RateLimiter(RateLimitConfig(burst=1, max_keys=3), FakeClock())
    for i in range(10):
        limiter.acquire(f"key-{i}")
    assert len(limiter) == 3
    off = RateLimiter(RateLimitConfig(enabled=False, burst=1), FakeClock())
    assert all(off.acquire("k") is None for _ in range(50))


def test_burst_then_429_with_retry_after(service: Service) -> None:
    # a token every 1000 s: nothing refills while the test runs, whatever its speed
    limited = service.config.model_copy(deep=True)
    limited.service.rate_limit = RateLimitConfig(requests_per_second=0.001, burst=3)
    with TestClient(create_app(limited)) as client:
        client_key, admin_key = service.auth("client"), service.auth("admin")
        path = "/v1/recommend/unknown-request/explain"
        assert [client.get(path, headers=client_key).status_code for _ in range(3)] == [404] * 3
        limited = client.get(path, headers=client_key)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        body = {"user_id": service.user_ids[0], "n": 3}
        assert client.post("/v1/recommend", json=body, headers=client_key).status_code == 429
        # the same key through the other header is the same key
        other_header = {"X-API-Key": service.keys["client"]}
        assert client.get(path, headers=other_header).status_code == 429
        # another key keeps its own bucket
        assert client.get("/v1/admin/models", headers=admin_key).status_code == 200
        # health, metrics and the spec are never limited
        for route in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert client.get(route, headers=client_key).status_code == 200, route
