"""All of ecorec's stores for one configuration, opened lazily and closed together.

Empty URLs in :class:`~ecorec.core.config.StorageConfig` are derived from ``database_url`` so
that ``--db sqlite:///x.db`` alone gives a complete, self-contained installation: models in
``x-models/``, profiles snapshotted to ``x-profiles.json`` and the nearline outbox in
``x-outbox.db`` beside the database file.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType

from ecorec.core.config import StorageConfig
from ecorec.data.profiles.fallback import FallbackProfileStore
from ecorec.data.protocols import Catalog, EventLog, ProfileStore
from ecorec.data.registry import ModelRegistry
from ecorec.data.urls import (
    folder_path,
    open_catalog,
    open_event_log,
    open_profiles,
    sqlite_path,
)


def _base(database_url: str) -> Path:
    """``<folder>/<stem>`` of a SQLite database, ``./ecorec`` for a server database."""
    if database_url.startswith("sqlite:"):
        path = sqlite_path(database_url).resolve()
        return path.parent / path.stem
    return Path.cwd().resolve() / "ecorec"


def profiles_url(config: StorageConfig) -> str:
    """The configured profile store URL, or an in-process store snapshotted beside the DB."""
    return config.profiles_url or f"memory://{_base(config.database_url)}-profiles.json"


def models_root(config: StorageConfig) -> Path:
    """The configured model folder, or ``<db stem>-models`` beside the database."""
    return (
        folder_path(config.models_url)
        if config.models_url
        else Path(f"{_base(config.database_url)}-models")
    )


def outbox_path(config: StorageConfig) -> Path:
    """The configured nearline outbox file, or ``<db stem>-outbox.db`` beside the database."""
    return (
        Path(config.outbox_path)
        if config.outbox_path
        else Path(f"{_base(config.database_url)}-outbox.db")
    )


def simulation_path(config: StorageConfig) -> Path:
    """Where ``ecorec simulate`` keeps its latest result: ``<db stem>-simulation.json``.

    The dashboard and ``ecorec report`` show its policy comparison when the file exists.
    """
    return Path(f"{_base(config.database_url)}-simulation.json")


class Stores:
    """Event log, catalog, profiles and model registry of one installation.

    Each store opens on first use, so a command that only counts events never loads profiles.
    """

    def __init__(self, config: StorageConfig, resilient_profiles: bool = False) -> None:
        self.config = config
        #: serve profiles from process memory while a profile server is down (the service);
        #: batch commands leave it off, so a rebuild never lands in memory by mistake
        self.resilient_profiles = resilient_profiles
        self._opened: list[object] = []

    def _track(self, store: object) -> object:
        self._opened.append(store)
        return store

    @cached_property
    def events(self) -> EventLog:
        return self._track(open_event_log(self.config.database_url))  # type: ignore[return-value]

    @cached_property
    def catalog(self) -> Catalog:
        return self._track(open_catalog(self.config.database_url))  # type: ignore[return-value]

    @cached_property
    def profiles(self) -> ProfileStore:
        url = profiles_url(self.config)
        store = open_profiles(url)
        if self.resilient_profiles and not url.startswith("memory:"):
            store = FallbackProfileStore(store)
        return self._track(store)  # type: ignore[return-value]

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(models_root(self.config))

    def close(self) -> None:
        """Close every store that was opened, newest first."""
        while self._opened:
            store = self._opened.pop()
            store.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Stores:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
