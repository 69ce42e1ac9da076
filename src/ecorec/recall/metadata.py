"""Catalog metadata for the metadata-driven recall channels.

Content, explore, long-tail, novice-creator, curated and per-segment popular recall read item,
user and creator entities from :class:`~ecorec.data.training.TrainingData` (its ``items`` /
``users`` lists when a dataset gave them, else its catalog); these helpers turn them into the
small lookups the channels need, so each channel stays about its own algorithm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ecorec.core.entities import Creator, CreatorStage, Item, User
from ecorec.data.training import TrainingData


def item_entities(data: TrainingData) -> list[Item]:
    """Every item ``data`` knows metadata for, deleted ones included (callers drop them)."""
    return list(data.item_entities())


def deleted_item_ids(data: TrainingData) -> set[str]:
    """Items the catalog marks deleted: they may teach a model but are never served."""
    return {item.item_id for item in data.item_entities() if item.deleted}


def user_entities(data: TrainingData) -> list[User]:
    """Every user ``data`` knows metadata for."""
    return list(data.user_entities())


def creator_entities(data: TrainingData) -> list[Creator]:
    """Every creator of ``data.catalog`` (empty without a catalog)."""
    if data.catalog is None:
        return []
    return list(data.catalog.scan(Creator))


def user_segments(data: TrainingData) -> dict[str, str]:
    """user_id -> segment for the users that have one."""
    return {u.user_id: u.segment for u in user_entities(data) if u.segment}


def novice_creators(data: TrainingData) -> set[str]:
    """Ids of the creators in the novice stage."""
    return {c.creator_id for c in creator_entities(data) if c.stage == CreatorStage.NOVICE}


def live_items(items: Iterable[Item]) -> list[Item]:
    """``items`` without the deleted ones, first occurrence of each id kept."""
    seen: dict[str, Item] = {}
    for item in items:
        if not item.deleted and item.item_id not in seen:
            seen[item.item_id] = item
    return list(seen.values())


class SegmentTable:
    """user_id -> segment, stored as two arrays so it saves without pickle.

    Args:
        segments: user_id -> segment name.

    Example:
        >>> table = SegmentTable({"u1": "heavy"})
        >>> table.segment_of("u1"), table.segment_of("u2")
        ('heavy', None)

    """

    def __init__(self, segments: dict[str, str] | None = None) -> None:
        self.segments = dict(segments or {})

    def segment_of(self, user_id: str, context: dict[str, Any] | None = None) -> str | None:
        """The request's ``context["segment"]`` when given, else the segment learned at train."""
        if context:
            given = context.get("segment")
            if isinstance(given, str) and given:
                return given
        return self.segments.get(user_id)

    def save(self, folder: Any, prefix: str = "segments") -> None:
        users = np.asarray(list(self.segments), dtype=str)
        names = np.asarray(list(self.segments.values()), dtype=str)
        np.save(folder / f"{prefix}_users.npy", users, allow_pickle=False)
        np.save(folder / f"{prefix}_names.npy", names, allow_pickle=False)

    @classmethod
    def load(cls, folder: Any, prefix: str = "segments") -> SegmentTable:
        users_path = folder / f"{prefix}_users.npy"
        if not users_path.exists():
            return cls()
        users = np.load(users_path, allow_pickle=False)
        names = np.load(folder / f"{prefix}_names.npy", allow_pickle=False)
        return cls(dict(zip(users.tolist(), names.tolist(), strict=True)))


def has_interactions(data: TrainingData) -> bool:
    """Whether ``data`` holds at least one positive interaction (stops at the first batch)."""
    if data.events is None and data.table is None:
        return False
    return any(batch.num_rows for batch in data.interactions())
