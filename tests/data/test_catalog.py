"""SQLCatalog on SQLite and PostgreSQL against the shared contract, plus backend specifics."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ecorec.core.entities import Item, User
from ecorec.data.catalog import TABLE_NAMES, SQLCatalog
from ecorec.testing.catalog import CatalogContract

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class TestSQLiteCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, tmp_path: Path) -> Iterator[SQLCatalog]:
        catalog = SQLCatalog(f"sqlite:///{tmp_path / 'ecorec.db'}")
        yield catalog
        catalog.close()


def test_sqlite_is_wal_and_shares_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "ecorec.db"
    catalog = SQLCatalog(f"sqlite:///{path}")
    try:
        # Another writer (the event log) owns its own table in the same file.
        other = sqlite3.connect(path, timeout=30)
        other.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY)")
        other.execute("INSERT INTO events VALUES ('e1')")
        other.commit()
        catalog.put([User("u1")])
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT count(*) FROM users").fetchone()[0] == 1
        other.close()
        # Reopening keeps both: create_all only adds what is missing.
        catalog.close()
        catalog = SQLCatalog(f"sqlite:///{path}")
        assert catalog.count(User) == 1
        reader = sqlite3.connect(path)
        tables = {r[0] for r in reader.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        reader.close()
        assert tables == set(TABLE_NAMES.values()) | {"events"}
    finally:
        catalog.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema for one test, dropped with everything in it afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.services
class TestPostgresCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, pg_schema: str) -> Iterator[SQLCatalog]:
        catalog = SQLCatalog(f"{PG_URL}?options=-csearch_path%3D{pg_schema}")
        yield catalog
        catalog.close()

    def test_tables_land_in_the_search_path_schema(
        self, catalog: SQLCatalog, pg_schema: str
    ) -> None:
        catalog.put([Item("i1")])
        with psycopg.connect(PG_URL) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg_schema,),
            ).fetchall()
        assert {r[0] for r in rows} == set(TABLE_NAMES.values())
