"""The catalog rows feature code reads, held in memory and filled on demand.

Feature building looks up the user, every candidate item and its creator for each row. Offline
that is a few thousand distinct ids per batch, online a few hundred per request: both go through
:class:`Entities`, so the values a model sees online are the ones it was trained on. Items and
creators the tables do not hold yet (published after training) are fetched from the catalog
once and kept: the catalog bounds them. Users are not kept for good: a service meets millions
who were not in the training snapshot, so those are remembered an hour, at most
:data:`~ecorec.core.recent.USER_LIMIT` of them, an unknown id included (read again every
request, it cost a catalog query each time). Ids the catalog does not know stay unknown and
encode as OOV.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecorec.core.entities import Creator, CreatorStage, Item, User
from ecorec.core.recent import USER_LIMIT, USER_SECONDS, Recent
from ecorec.data.protocols import Catalog

#: The file :meth:`Entities.save` writes.
ENTITIES_FILE = "entities.json"


@dataclass
class Entities:
    """Users, items and creators by id, with an optional catalog behind them for misses."""

    users: dict[str, User] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    creators: dict[str, Creator] = field(default_factory=dict)
    catalog: Catalog | None = None
    #: users read from the catalog on demand (not in ``users``), ``None`` for unknown ids
    recent_users: Recent[str, User | None] = field(
        default_factory=lambda: Recent(USER_SECONDS, limit=USER_LIMIT),
        init=False,
        repr=False,
        compare=False,
    )

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Entities:
        """Every user, item and creator of ``catalog``, with the catalog kept for later misses."""
        return cls(
            {u.user_id: u for u in catalog.scan(User)},
            {i.item_id: i for i in catalog.scan(Item)},
            {c.creator_id: c for c in catalog.scan(Creator)},
            catalog,
        )

    @classmethod
    def of(
        cls,
        users: Iterable[User] = (),
        items: Iterable[Item] = (),
        creators: Iterable[Creator] = (),
    ) -> Entities:
        """Tables from given entities (a dataset's files), without a catalog."""
        return cls(
            {u.user_id: u for u in users},
            {i.item_id: i for i in items},
            {c.creator_id: c for c in creators},
        )

    def user(self, user_id: str) -> User | None:
        found = self.users.get(user_id)
        catalog = self.catalog
        if found is not None or not user_id or catalog is None:
            return found
        return self.recent_users.read(user_id, lambda key: catalog.get(User, [key]).get(key))

    def item(self, item_id: str) -> Item | None:
        found: Item | None = self._get(self.items, Item, item_id)
        return found

    def creator(self, creator_id: str) -> Creator | None:
        found: Creator | None = self._get(self.creators, Creator, creator_id)
        return found

    def prefetch_items(self, item_ids: Iterable[str]) -> None:
        """Fetch the items of ``item_ids`` not held yet, in one catalog call."""
        missing = [i for i in item_ids if i and i not in self.items]
        if missing and self.catalog is not None:
            self.items.update(self.catalog.get(Item, missing))

    def items_of(self, item_ids: list[str]) -> list[Item | None]:
        """The item of each id (``None`` when the catalog does not know it), one batched read."""
        self.prefetch_items(item_ids)
        return [self.items.get(i) for i in item_ids]

    def save(self, folder: Path) -> None:
        """Write the fields feature code reads into ``folder/entities.json``.

        Only those fields: a served ranker needs the item's category, not its title.
        """
        data = {
            "users": [
                [u.user_id, u.segment, u.region, u.attrs.get("age"), u.attrs.get("gender")]
                for u in self.users.values()
            ],
            "items": [
                [i.item_id, i.creator_id, i.category, list(i.tags), i.created_at, i.quality]
                for i in self.items.values()
            ],
            "creators": [[c.creator_id, str(c.stage), c.quality] for c in self.creators.values()],
        }
        (Path(folder) / ENTITIES_FILE).write_text(json.dumps(data, separators=(",", ":")))

    @classmethod
    def load(cls, folder: Path) -> Entities:
        """Inverse of :meth:`save` (without a catalog; see :attr:`catalog`)."""
        data = json.loads((Path(folder) / ENTITIES_FILE).read_text())
        attrs = ("age", "gender")
        return cls.of(
            (
                User(
                    u[0],
                    segment=u[1],
                    region=u[2],
                    attrs={k: v for k, v in zip(attrs, u[3:], strict=True) if v is not None},
                )
                for u in data["users"]
            ),
            (
                Item(
                    i[0],
                    creator_id=i[1],
                    category=i[2],
                    tags=tuple(i[3]),
                    created_at=i[4],
                    quality=i[5],
                )
                for i in data["items"]
            ),
            (Creator(c[0], stage=CreatorStage(c[1]), quality=c[2]) for c in data["creators"]),
        )

    def _get(self, table: dict[str, Any], kind: type, key: str) -> Any:
        if not key:
            return None
        found = table.get(key)
        if found is None and self.catalog is not None and key not in table:
            found = self.catalog.get(kind, [key]).get(key)
            if found is not None:
                table[key] = found
        return found


class CatalogSnapshot:
    """One :class:`Entities` read from ``catalog`` for all the stages of a pipeline.

    Several re-rankers hold the catalog's items, creators and users in memory (similarity,
    break-up rules, creator traffic, curated pools, ads). Each reading its own copy cost a full
    scan and a copy of every item per stage: at 1M items, four scans were over half of a
    pipeline's two-minute start-up, and four copies of the items. ``build_pipeline`` makes one
    snapshot and hands it to every stage's ``attach``; it is read when the first stage asks.
    Stages then share the items fetched on demand (published since) as well.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._entities: Entities | None = None
        self._lock = threading.Lock()

    def entities(self) -> Entities:
        """The snapshot, read from the catalog at the first call."""
        with self._lock:
            if self._entities is None:
                self._entities = Entities.from_catalog(self.catalog)
            return self._entities


def attached(
    entities: Entities | None, catalog: Catalog, snapshot: CatalogSnapshot | None = None
) -> Entities:
    """The entities a stage's ``attach`` keeps.

    Its own ``entities`` (tests give them), now looking up misses in ``catalog``; else the
    pipeline's ``snapshot``; else a read of its own.
    """
    if entities is not None:
        entities.catalog = catalog
        return entities
    return snapshot.entities() if snapshot is not None else Entities.from_catalog(catalog)
