"""The catalog of users, creators, items, advertisers, ads and curated pools (SQL backends)."""

from ecorec.data.catalog.schema import TABLE_NAMES
from ecorec.data.catalog.sql import SQLCatalog, create_catalog_engine

__all__ = ["TABLE_NAMES", "SQLCatalog", "create_catalog_engine"]
