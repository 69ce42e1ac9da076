"""Catalog on SQLite or PostgreSQL through SQLAlchemy Core: one code path, picked by URL.

The SQLite file may be shared with the event log (which owns the ``events`` table), so every
connection turns on WAL mode and a busy timeout: readers never block the log's writer and
writers wait for each other instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

from ecorec.core.entities import Entity
from ecorec.data.catalog.schema import Codec, build_codecs
from ecorec.data.chunks import sql_chunks

#: Milliseconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Ids per ``IN (...)`` clause, well under SQLite's bound-parameter limit.
#: Rows fetched per round trip while scanning.
_SCAN_BATCH = 2_000


def create_catalog_engine(url: str) -> Engine:
    """Create the engine for ``url``: ``sqlite:///path.db`` or ``postgresql://...`` (psycopg 3).

    ``postgresql://`` and ``postgres://`` are sent to the psycopg 3 driver; query parameters
    such as ``options=-csearch_path%3Dschema`` go to libpq unchanged.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


class SQLCatalog:
    """Users, creators, items, advertisers, ads and curated pools in SQL tables.

    Tables are created on first use when missing. ``put`` is an upsert of any mix of entity
    types in one transaction.

    Args:
        url: ``sqlite:///ecorec.db`` or ``postgresql://user@host/db``.

    Example:
        >>> from ecorec.core.entities import Item, User
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([User("u1"), Item("i1", category="music")])
        2
        >>> catalog.get(Item, ["i1"])["i1"].category
        'music'

    """

    def __init__(self, url: str) -> None:
        self.engine = create_catalog_engine(url)
        self._metadata = sa.MetaData()
        self._codecs = build_codecs(self._metadata)
        self._metadata.create_all(self.engine)

    def _codec(self, kind: type[Entity]) -> Codec:
        try:
            return self._codecs[kind]
        except KeyError:
            raise TypeError(f"{kind!r} is not a catalog entity type") from None

    def put(self, entities: Iterable[Entity]) -> int:
        """Insert or update ``entities`` in one transaction: all of them or none.

        Within a batch the last entity with a given id wins.

        Returns:
            How many distinct entities were written.

        Raises:
            ValueError: an entity without an id (nothing is written).
            TypeError: an object that is not a catalog entity (nothing is written).

        """
        rows: dict[type, dict[str, dict[str, Any]]] = {}
        for entity in entities:
            codec = self._codec(type(entity))
            row = codec.to_row(entity)
            entity_id = row[codec.id_field]
            if entity_id is None or entity_id == "":
                raise ValueError(f"{codec.kind.__name__} without {codec.id_field}: {entity!r}")
            rows.setdefault(codec.kind, {})[entity_id] = row
        with self.engine.begin() as conn:
            for kind, by_id in rows.items():
                conn.execute(self._upsert(self._codecs[kind]), list(by_id.values()))
        return sum(len(by_id) for by_id in rows.values())

    def _upsert(self, codec: Codec) -> Any:
        table = codec.table
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(table)
        updates = {c.name: statement.excluded[c.name] for c in table.c if not c.primary_key}
        return statement.on_conflict_do_update(index_elements=[codec.id_field], set_=updates)

    def get(self, kind: type[Entity], ids: Iterable[str]) -> dict[str, Any]:
        """Fetch the entities of ``kind`` with these ids; unknown ids are left out."""
        codec = self._codec(kind)
        key = codec.table.c[codec.id_field]
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for chunk in sql_chunks(list(dict.fromkeys(ids))):
                for row in conn.execute(sa.select(codec.table).where(key.in_(chunk))).mappings():
                    found[row[codec.id_field]] = codec.from_row(row)
        return found

    def scan(self, kind: type[Entity]) -> Iterator[Any]:
        """Every entity of ``kind`` in id order, streamed in batches rather than loaded at once."""
        codec = self._codec(kind)
        query = sa.select(codec.table).order_by(codec.table.c[codec.id_field])
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=_SCAN_BATCH).execute(query)
            for row in result.mappings():
                yield codec.from_row(row)

    def values(self, kind: type[Entity], fields: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The ``fields`` of every entity of ``kind`` in id order, as tuples, streamed.

        For readers that need a few plain attributes of a whole catalog (health metrics over
        1M items): only those columns are read, and no entity is built and no JSON column
        decoded, which were most of a :meth:`scan`'s time. Enum fields come back as their
        stored string values, tuple and dict fields as decoded JSON.

        Raises:
            ValueError: a field ``kind`` does not have.

        """
        codec = self._codec(kind)
        unknown = [name for name in fields if name not in codec.fields]
        if unknown:
            raise ValueError(f"{kind.__name__} has no field {', '.join(map(repr, unknown))}")
        key = codec.table.c[codec.id_field]  # selected too: no fields is still one row each
        query = sa.select(key, *(codec.table.c[name] for name in fields)).order_by(key)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=_SCAN_BATCH).execute(query)
            for row in result:
                yield tuple(row)[1:]

    def ids(self, kind: type[Entity], limit: int | None = None) -> list[str]:
        """Ids of ``kind``, sorted; the first ``limit`` when given."""
        codec = self._codec(kind)
        key = codec.table.c[codec.id_field]
        query = sa.select(key).order_by(key)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def count(self, kind: type[Entity]) -> int:
        """How many entities of ``kind`` are stored."""
        table = self._codec(kind).table
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def delete(self, kind: type[Entity], ids: Iterable[str]) -> int:
        """Remove the entities of ``kind`` with these ids in one transaction.

        Returns:
            How many were removed (unknown ids count for nothing).

        """
        codec = self._codec(kind)
        key = codec.table.c[codec.id_field]
        removed = 0
        with self.engine.begin() as conn:
            for chunk in sql_chunks(list(dict.fromkeys(ids))):
                removed += conn.execute(sa.delete(codec.table).where(key.in_(chunk))).rowcount
        return removed

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
