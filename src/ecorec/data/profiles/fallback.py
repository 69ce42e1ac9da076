"""A profile store that keeps serving while its server (Redis) is down.

The service must not answer 5xx because Redis went away: reads and writes move to an in-process
store, the store reports itself ``degraded`` (so the response and the fallback counter say so),
and every write made meanwhile is queued. Every ``retry_after`` seconds a call tries the
primary again; on success the queued writes are replayed to it in order before anything else,
so the feedback recorded during the outage (a not-interested item, a blocked creator, an
erasure) is not lost when Redis comes back. Replays are exact because each queued write is the
same :class:`~ecorec.core.profile.ProfileDelta` (or deletion) the primary would have received;
the one inexact case is a write whose reply was lost after Redis executed it, which is replayed
once more (a recent item or interest counted twice), never lost.

While degraded, a user's profile holds only what was written during the outage: the older state
is on the unreachable server. That is the documented cost of the fallback path; erased users
stay non-personal regardless, because the service checks its deletion log, not the profile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.profiles.memory import MemoryProfileStore
from ecorec.data.protocols import ProfileStore

log = logging.getLogger(__name__)

#: Errors that mean "the server is unreachable", when the primary does not name its own.
UNAVAILABLE: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

Write = tuple[str, ProfileDelta | None]


class FallbackProfileStore:
    """``primary`` while it answers, an in-process store while it does not.

    Args:
        primary: the shared store (Redis). Its ``unavailable`` attribute, when present, names
            the exceptions that mean "down"; other exceptions propagate.
        retry_after: seconds between attempts to reach the primary while degraded.
        max_pending: writes kept for replay; past it the oldest are dropped and counted in
            ``dropped`` (an outage that long is an incident, not a fallback).
        clock: monotonic seconds (tests pass a fake one).

    Example:
        >>> store = FallbackProfileStore(RedisProfileStore("redis://127.0.0.1:1"))  # doctest: +SKIP
        >>> store.get("u1").user_id, store.degraded  # doctest: +SKIP
        ('u1', True)

    """

    def __init__(
        self,
        primary: ProfileStore,
        retry_after: float = 5.0,
        max_pending: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = MemoryProfileStore()
        self.retry_after = retry_after
        self.max_pending = max_pending
        self.clock = clock
        self.unavailable: tuple[type[BaseException], ...] = getattr(
            primary, "unavailable", UNAVAILABLE
        )
        self.pending: deque[tuple[str, Write]] = deque()
        self.dropped = 0
        self._down_since: float | None = None
        self._next_try = 0.0
        self._lock = threading.RLock()

    @property
    def degraded(self) -> bool:
        """True while the primary is considered down."""
        return self._down_since is not None

    def get(self, user_id: str) -> Profile:
        profile: Profile = self._call(lambda store: store.get(user_id), None)
        return profile

    def apply(self, user_id: str, delta: ProfileDelta) -> Profile:
        write = (user_id, ("apply", delta))
        profile: Profile = self._call(lambda store: store.apply(user_id, delta), write)
        return profile

    def delete(self, user_id: str) -> None:
        self._call(lambda store: store.delete(user_id), (user_id, ("delete", None)))

    def close(self) -> None:
        self.fallback.close()
        self.primary.close()

    def _call(self, action: Callable[[Any], Any], write: tuple[str, Write] | None) -> Any:
        if self._primary_usable():
            try:
                return action(self.primary)
            except self.unavailable as exc:
                self._mark_down(exc)
        with self._lock:
            if self._down_since is None:
                # another thread replayed the queue and switched back meanwhile: a write queued
                # now would never be replayed, so go to the primary again
                return self._call(action, write)
            if write is not None:
                self._queue(write)
            return action(self.fallback)

    def _primary_usable(self) -> bool:
        """Up, or down long enough to try again (and then caught up on the queued writes)."""
        if self._down_since is None:
            return True
        with self._lock:
            if self._down_since is None:
                return True
            if self.clock() < self._next_try:
                return False
            queued = len(self.pending)
            try:
                self._replay()
            except self.unavailable as exc:
                self._mark_down(exc)
                return False
            log.warning(
                "profile store reachable again after %.1f s; %d queued writes replayed",
                self.clock() - self._down_since,
                queued,
            )
            self._down_since = None
            self.fallback = MemoryProfileStore()
            return True

    def _replay(self) -> None:
        """Send the queued writes in order; each leaves the queue once the primary has it."""
        while self.pending:
            user_id, (kind, delta) = self.pending[0]
            if kind == "delete":
                self.primary.delete(user_id)
            else:
                assert delta is not None
                self.primary.apply(user_id, delta)
            self.pending.popleft()

    def _queue(self, write: tuple[str, Write]) -> None:
        self.pending.append(write)
        if len(self.pending) > self.max_pending:
            self.pending.popleft()
            self.dropped += 1

    def _mark_down(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = self.clock()
                log.warning("profile store unreachable (%s): serving from process memory", exc)
            self._next_try = self.clock() + self.retry_after
