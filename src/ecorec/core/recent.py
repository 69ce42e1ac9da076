"""Answers a request path may reuse for a few seconds instead of asking the database again.

Every request presents an API key; one SQL query per request to verify it measured a tenth of
the service's own work. The ads stage and the rankers' features read users from the catalog the
same way.
:class:`Recent` remembers such an answer for ``seconds``, and at most ``limit`` of them, so
memory stays bounded however many users come by: what was changed through the owner (a revoked
key) is forgotten at once by the owner, what another process changed counts within
``seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

#: How long a user's catalog row read on demand (segment, attributes: slow to change) is
#: trusted, and how many are kept (~1.5 KB each).
USER_SECONDS, USER_LIMIT = 3600.0, 100_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Values remembered for ``seconds``; at most ``limit`` of them (emptied past it).

    Example:
        >>> now = [0.0]
        >>> recent = Recent[str, int](5.0, clock=lambda: now[0])
        >>> recent.put("a", 1)
        >>> recent.get("a"), now.__setitem__(0, 5.0), recent.get("a")
        (1, None, None)

    """

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, limit: int = 100_000
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.limit = limit
        self._values: dict[K, tuple[V, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value put for ``key`` less than ``seconds`` ago, else None."""
        with self._lock:
            found = self._values.get(key)
        if found is None or self.clock() - found[1] >= self.seconds:
            return None
        return found[0]

    def read(self, key: K, load: Callable[[K], V]) -> V:
        """The value remembered for ``key``, else ``load(key)``, remembered from now.

        Unlike :meth:`get`, a remembered ``None`` counts: an id the database does not know is
        not asked for again on every request within ``seconds``.
        """
        with self._lock:
            found = self._values.get(key)
        if found is not None and self.clock() - found[1] < self.seconds:
            return found[0]
        value = load(key)
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` from now."""
        now = self.clock()
        with self._lock:
            if len(self._values) >= self.limit:
                self._values.clear()
            self._values[key] = (value, now)

    def forget(self, key: K | None = None) -> None:
        """Forget ``key``, or everything when it is None."""
        with self._lock:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)
