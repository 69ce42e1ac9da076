"""A per-API-key token bucket: one noisy product backend cannot starve the others.

Buckets live in process memory (one worker, one limit; several workers each enforce their own),
keyed by a digest of the presented key rather than the key itself, so a dump of the limiter
holds no credential. A forged key gets its own bucket and is refused by authentication anyway;
buckets are kept in a bounded LRU, so a flood of random keys costs bounded memory (an evicted
bucket comes back full, which errs on the side of serving).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ecorec.core.config import RateLimitConfig


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key: ``burst`` tokens, refilled at ``requests_per_second``.

    Args:
        settings: the rate, burst and bound on tracked keys.
        clock: seconds, monotonic (tests pass a fake one to step time exactly).

    Example:
        >>> limiter = RateLimiter(RateLimitConfig(requests_per_second=1, burst=2))
        >>> [limiter.acquire("k") for _ in range(3)]
        [None, None, 1]

    """

    def __init__(
        self, settings: RateLimitConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int | None:
        """Take one token for ``key``: None when allowed, else whole seconds to wait (>= 1)."""
        if not self.settings.enabled:
            return None
        rate, burst = self.settings.requests_per_second, float(self.settings.burst)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(digest, None)
            if bucket is None:
                bucket = _Bucket(burst, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
                bucket.updated = now
            self._buckets[digest] = bucket  # most recently seen last
            while len(self._buckets) > self.settings.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            # Retry-After is whole seconds; round up so a client that waits it is served
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def __len__(self) -> int:
        return len(self._buckets)
