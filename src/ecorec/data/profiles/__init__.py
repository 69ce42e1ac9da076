"""Online per-user state: the in-process store, the Redis store, and deltas built from events.

Every backend folds changes with :meth:`ecorec.core.profile.Profile.apply`, so the backends only
differ in where the result is kept. The Redis backend is imported on first use, so the embedded
store never loads the client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecorec.data.profiles.delta import DEFAULT_WEIGHTS, deltas_from_events
from ecorec.data.profiles.memory import MemoryProfileStore

if TYPE_CHECKING:
    from ecorec.data.profiles.redis import RedisProfileStore

__all__ = ["DEFAULT_WEIGHTS", "MemoryProfileStore", "RedisProfileStore", "deltas_from_events"]


def __getattr__(name: str) -> Any:
    if name == "RedisProfileStore":
        from ecorec.data.profiles.redis import RedisProfileStore

        return RedisProfileStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
