"""Tables of the catalog, derived from the entity dataclasses so the two cannot drift.

One column per dataclass field: the id is a string primary key, ``attrs`` and tuple fields are
JSON (JSONB on PostgreSQL), enums are stored as their string value, ``deleted``/``active`` are
booleans. Tables carry no schema name, so on PostgreSQL they land in the first schema of the
connection's ``search_path``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ecorec.core.entities import (
    ENTITY_IDS,
    Ad,
    Advertiser,
    Creator,
    CuratedPool,
    Entity,
    Item,
    User,
)

#: Table name of each entity type.
TABLE_NAMES: dict[type, str] = {
    User: "users",
    Creator: "creators",
    Item: "items",
    Advertiser: "advertisers",
    Ad: "ads",
    CuratedPool: "curated_pools",
}

# Ids sort bytewise on every backend (PostgreSQL would otherwise use the database collation),
# so ``ids()`` returns what Python's ``sorted`` would.
_ID = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


@dataclass(frozen=True, slots=True)
class Codec:
    """How one entity type maps to its table: which fields are JSON tuples or enums."""

    kind: type
    table: sa.Table
    id_field: str
    fields: tuple[str, ...]
    tuples: frozenset[str]
    enums: dict[str, type[enum.Enum]]
    dicts: frozenset[str]

    def to_row(self, entity: Entity) -> dict[str, Any]:
        """Build the row of ``entity`` (enum values as strings, tuples as lists)."""
        row = {name: getattr(entity, name) for name in self.fields}
        for name in self.tuples:
            row[name] = list(row[name])
        for name in self.enums:
            value = row[name]
            row[name] = value.value if isinstance(value, enum.Enum) else value
        return row

    def from_row(self, row: typing.Mapping[Any, Any]) -> Any:
        """Rebuild the entity stored in ``row``."""
        values = {name: row[name] for name in self.fields}
        for name in self.tuples:
            values[name] = tuple(values[name] or ())
        for name, enum_type in self.enums.items():
            if values[name] is not None:
                values[name] = enum_type(values[name])
        for name in self.dicts:
            if values[name] is None:
                values[name] = {}
        return self.kind(**values)


def _column(name: str, hint: Any, is_id: bool) -> tuple[sa.Column[Any], str | None]:
    """Map one field to its column and its codec role (tuple, enum, dict or None)."""
    if is_id:
        return sa.Column(name, _ID, primary_key=True), None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    nullable = is_union and type(None) in typing.get_args(hint)
    base = args[0] if nullable else hint
    origin = typing.get_origin(base)
    if origin is tuple:
        return sa.Column(name, _JSON, nullable=False), "tuple"
    if origin is dict:
        return sa.Column(name, _JSON, nullable=False), "dict"
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return sa.Column(name, sa.String(), nullable=nullable), "enum"
    column_type: sa.types.TypeEngine[Any]
    if base is bool:
        column_type = sa.Boolean()
    elif base is int:
        column_type = sa.Integer()
    elif base is float:
        column_type = sa.Double()
    elif base is str:
        column_type = sa.String()
    else:
        raise TypeError(f"no column type for field {name!r}: {hint!r}")
    return sa.Column(name, column_type, nullable=nullable), None


def build_codecs(metadata: sa.MetaData) -> dict[type, Codec]:
    """Create one table per entity type in ``metadata`` and its row codec."""
    codecs: dict[type, Codec] = {}
    for kind, id_field in ENTITY_IDS.items():
        hints = typing.get_type_hints(kind)
        columns, roles = [], {}
        for field in dataclasses.fields(kind):
            column, role = _column(field.name, hints[field.name], field.name == id_field)
            columns.append(column)
            roles[field.name] = role
        table = sa.Table(TABLE_NAMES[kind], metadata, *columns)
        codecs[kind] = Codec(
            kind=kind,
            table=table,
            id_field=id_field,
            fields=tuple(f.name for f in dataclasses.fields(kind)),
            tuples=frozenset(n for n, r in roles.items() if r == "tuple"),
            enums={n: hints[n] for n, r in roles.items() if r == "enum"},
            dicts=frozenset(n for n, r in roles.items() if r == "dict"),
        )
    sa.Index("ix_items_creator_id", codecs[Item].table.c.creator_id)
    sa.Index("ix_ads_advertiser_id", codecs[Ad].table.c.advertiser_id)
    return codecs
