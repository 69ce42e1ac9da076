"""The narrow storage protocols of ecorec; backends are picked by URL in :mod:`ecorec.data.urls`.

Each protocol has a handful of methods so a new backend is a small module, and every backend
passes the same contract suite in :mod:`ecorec.testing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from ecorec.core.entities import Entity
from ecorec.core.events import Event
from ecorec.core.profile import Profile, ProfileDelta


class EventLog(Protocol):
    """Durable, idempotent, append-only log of :class:`Event`.

    ``append`` returns only after the batch is durable; a batch is all-or-nothing; an event whose
    ``event_id`` is already stored is skipped (the count returned excludes it).
    Filters: ``start <= ts < end``, ``user_id`` equal, ``types`` in the given set.
    """

    def append(self, events: Sequence[Event] | pa.Table) -> int: ...

    def scan(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
    ) -> Iterator[Event]: ...

    def scan_batches(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
        batch_size: int = 100_000,
    ) -> Iterator[pa.Table]: ...

    def count(
        self,
        start: float | None = None,
        end: float | None = None,
        user_id: str | None = None,
        types: Iterable[str] | None = None,
    ) -> int: ...

    def count_by_type(self) -> dict[str, int]: ...

    def stored(self, event_ids: Iterable[str]) -> set[str]:
        """The ids among ``event_ids`` already in the log (what a retried batch repeats)."""
        ...

    def delete_user(self, user_id: str) -> int:
        """Erase every event of ``user_id`` (privacy erasure); return how many were removed."""
        ...

    def close(self) -> None: ...


class ProfileStore(Protocol):
    """Online per-user state; ``apply`` is atomic per user."""

    def get(self, user_id: str) -> Profile: ...

    def apply(self, user_id: str, delta: ProfileDelta) -> Profile: ...

    def delete(self, user_id: str) -> None: ...

    def close(self) -> None: ...


class Catalog(Protocol):
    """Users, creators, items, advertisers, ads and curated pools.

    ``put`` upserts a batch of entities (of any mix of types) in one transaction.
    """

    def put(self, entities: Iterable[Entity]) -> int: ...

    def get(self, kind: type[Entity], ids: Iterable[str]) -> dict[str, Any]: ...

    def scan(self, kind: type[Entity]) -> Iterator[Any]: ...

    def values(self, kind: type[Entity], fields: Sequence[str]) -> Iterator[tuple[Any, ...]]: ...

    def ids(self, kind: type[Entity], limit: int | None = None) -> list[str]: ...

    def count(self, kind: type[Entity]) -> int: ...

    def delete(self, kind: type[Entity], ids: Iterable[str]) -> int: ...

    def close(self) -> None: ...


class Registry(Protocol):
    """Versioned model folders with hashed manifests and atomic activation."""

    def save(
        self,
        name: str,
        folder: Path,
        metrics: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> str: ...

    def activate(self, name: str, version: str) -> None: ...

    def active(self, name: str) -> str | None: ...

    def open(self, name: str, version: str | None = None) -> Path: ...

    def versions(self, name: str) -> list[str]: ...
