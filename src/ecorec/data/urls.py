"""Open storage backends from URLs (the Gorse habit, with narrow protocols).

| URL | event log | catalog | profiles |
|---|---|---|---|
| ``sqlite:///path.db`` (relative) / ``sqlite:////abs/path.db`` | SQLite (WAL, FULL) | SQLite | - |
| ``postgresql://user@host:port/db`` | PostgreSQL | PostgreSQL | - |
| ``memory://`` / ``memory:///path/snapshot.json`` | - | - | in-process (+ snapshot) |
| ``redis://host:port/db?prefix=p`` | - | - | Redis |

Models live in a folder: ``models_url`` is a path or a ``file:///abs/path`` URL.

Backends are imported when opened, so a laptop without psycopg or redis servers never touches
them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ecorec.data.protocols import Catalog, EventLog, ProfileStore


class StorageURLError(ValueError):
    """A storage URL whose scheme no backend serves."""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.split("+")[0]


def folder_path(url: str) -> Path:
    """The folder of a plain path or a ``file://`` URL (``file:///abs/path``).

    A ``file:`` URL taken as a path would be a folder named ``file:`` under the working
    directory, so it is unwrapped here; any other scheme is an error, not a path.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageURLError(f"{url!r}: a file URL names a local folder, file:///abs/path")
        return Path(unquote(parts.path))
    if len(parts.scheme) > 1:
        raise StorageURLError(f"{url!r}: give a folder, as a path or file:///abs/path")
    return Path(url)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (three slashes: relative, four: absolute)."""
    if not url.startswith("sqlite:///"):
        raise StorageURLError(
            f"not a sqlite URL: {url!r} (use sqlite:///relative.db or sqlite:////absolute/path.db)"
        )
    rest = url[len("sqlite:///") :].split("?")[0]
    if not rest or rest == ":memory:":
        raise StorageURLError(f"{url!r}: give a file, e.g. sqlite:///ecorec.db")
    return Path(rest)


def open_event_log(url: str) -> EventLog:
    """The EventLog at ``url`` (``sqlite:///`` or ``postgresql://``)."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        from ecorec.data.eventlog import SQLiteEventLog

        return SQLiteEventLog(sqlite_path(url))
    if scheme in ("postgresql", "postgres"):
        from ecorec.data.eventlog import PostgresEventLog

        return PostgresEventLog(url.replace("postgresql+psycopg://", "postgresql://"))
    raise StorageURLError(f"no event log for {url!r}: use sqlite:///FILE or postgresql://...")


def open_catalog(url: str) -> Catalog:
    """The Catalog at ``url`` (``sqlite:///`` or ``postgresql://``)."""
    scheme = _scheme(url)
    if scheme in ("sqlite", "postgresql", "postgres"):
        from ecorec.data.catalog import SQLCatalog

        if scheme == "sqlite":
            sqlite_path(url)
        return SQLCatalog(url)
    raise StorageURLError(f"no catalog for {url!r}: use sqlite:///FILE or postgresql://...")


def open_profiles(url: str) -> ProfileStore:
    """The ProfileStore at ``url`` (``memory://[/snapshot.json]`` or ``redis://``)."""
    scheme = _scheme(url)
    if scheme == "memory":
        from ecorec.data.profiles import MemoryProfileStore

        path = urlsplit(url).path
        return MemoryProfileStore(snapshot_path=path or None)
    if scheme in ("redis", "rediss"):
        from ecorec.data.profiles import RedisProfileStore

        return RedisProfileStore(url)
    raise StorageURLError(f"no profile store for {url!r}: use memory:// or redis://...")
