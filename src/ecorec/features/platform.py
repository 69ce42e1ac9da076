"""Ranking features of a running platform, built the same way offline and online.

Both paths first reduce their input to :class:`~ecorec.features.rows.RawRows` (who, what, when,
in which context, and the behaviour before it), then one function,
:meth:`PlatformFeatures.encode`, derives every feature (:mod:`ecorec.features.columns`) and
encodes it. Only the making of ``RawRows`` differs (:mod:`ecorec.features.rows`):

* offline, :func:`offline_rows` takes impression samples (``features.impressions``) and the
  positive events of the log, and gives each sample the user's items consumed strictly before
  its timestamp (point-in-time: nothing at or after the impression leaks in);
* online, :func:`online_rows` takes the request's :class:`~ecorec.core.profile.Profile`,
  whose ``recent`` list the nearline path fills from the same events.

A user's behaviour is their distinct consumed items in order of first consumption, the last
``max_history`` of them, which is what ``Profile.recent`` holds for an item consumed once.

Feature groups (DESIGN.md §2): user (id, segment, region, age, gender, activity), item (id,
category, tags, age, quality), creator (id, stage, quality), context (scene, hour, device) and
behaviour (the item sequence, its categories and the time gaps to it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ecorec.features.columns import ITEM_FEATURES, Column, item_age, item_columns, row_columns
from ecorec.features.entities import Entities
from ecorec.features.rows import RawRows
from ecorec.features.schema import OOV, PAD, Field, FieldKind, Schema
from ecorec.features.vocab import Vocabulary, as_strings

#: ``(name, group, kind)`` of every feature, in schema order; tags width comes from the data.
FEATURES: tuple[tuple[str, str, FieldKind], ...] = (
    ("user_id", "user", FieldKind.SPARSE),
    ("segment", "user", FieldKind.SPARSE),
    ("region", "user", FieldKind.SPARSE),
    ("age", "user", FieldKind.SPARSE),
    ("gender", "user", FieldKind.SPARSE),
    ("activity", "user", FieldKind.SPARSE),
    ("item_id", "item", FieldKind.SPARSE),
    ("category", "item", FieldKind.SPARSE),
    ("tags", "item", FieldKind.MULTI),
    ("item_age", "item", FieldKind.SPARSE),
    ("item_quality", "item", FieldKind.SPARSE),
    ("creator_id", "creator", FieldKind.SPARSE),
    ("creator_stage", "creator", FieldKind.SPARSE),
    ("creator_quality", "creator", FieldKind.SPARSE),
    ("scene", "context", FieldKind.SPARSE),
    ("hour", "context", FieldKind.SPARSE),
    ("device", "context", FieldKind.SPARSE),
    ("history", "behaviour", FieldKind.SEQUENCE),
    ("history_category", "behaviour", FieldKind.SEQUENCE),
    ("history_gap", "behaviour", FieldKind.SEQUENCE),
)
#: Sequence fields that read another field's table.
_SHARED = {"history": "item_id", "history_category": "category"}
_KINDS = {name: kind for name, _, kind in FEATURES}


class PlatformFeatures:
    """The fitted encoder: vocabularies per feature, learned on training rows only.

    Args:
        vocabularies: feature -> vocabulary (sequence fields use their shared field's).
        max_history: the behaviour sequence width.
        max_tags: the tag bag width.

    """

    def __init__(
        self, vocabularies: dict[str, Vocabulary], max_history: int = 50, max_tags: int = 8
    ) -> None:
        self.vocabularies = vocabularies
        self.max_history = max_history
        self.max_tags = max_tags
        # item id -> row of _item_codes / _created: a request's candidates are mostly items
        # scored before, and their codes do not change while this encoder is loaded. Requests
        # run in threads: the memo grows under a lock, and each request reads the arrays it
        # was given (they are replaced, never changed in place), so rows never point past them.
        self._item_row: dict[str, int] = {}
        self._item_codes: dict[str, np.ndarray] = {}
        self._created = np.empty(0)
        self._lock = threading.Lock()

    @classmethod
    def fit(
        cls, rows: RawRows, entities: Entities, max_history: int = 50, max_tags: int = 8
    ) -> PlatformFeatures:
        """Learn every vocabulary from ``rows`` (the training part)."""
        unique, at = np.unique(rows.item_id, return_inverse=True)
        items, created = item_columns(unique, entities, max_tags)
        columns = {**items, **row_columns(rows, entities)}
        columns["item_age"] = item_age(rows.ts, created[at])
        vocabularies = {}
        for name, _, _ in FEATURES:
            if name not in _SHARED:
                column = columns[name]
                used = np.unique(column.index[column.index >= 0])
                vocabularies[name] = Vocabulary.fit(column.values[used])
        return cls(vocabularies, max_history, max_tags)

    def schema(self, objectives: Sequence[str]) -> Schema:
        """The model schema of these features predicting ``objectives``."""
        fields = []
        for name, group, kind in FEATURES:
            width = {FieldKind.MULTI: self.max_tags, FieldKind.SEQUENCE: self.max_history}.get(
                kind, 1
            )
            shared = _SHARED.get(name)
            size = self.vocabularies[shared or name].size
            fields.append(Field(name, kind, size, width, shared, group))
        return Schema(tuple(fields), tuple(objectives), "item_id", "history")

    def encode(self, rows: RawRows, entities: Entities) -> dict[str, torch.Tensor]:
        """The model inputs of ``rows``: feature -> ``int64`` codes (PAD where empty).

        Rows of one request (:meth:`RawRows.one_request`) get the user, context and behaviour
        features of their first row, encoded once and expanded (a read-only view) to every row.
        """
        item_rows, item_codes, created = self._items(rows.item_id, entities)
        out = {name: torch.from_numpy(codes[item_rows]) for name, codes in item_codes.items()}
        out["item_age"] = torch.from_numpy(
            self._encode("item_age", item_age(rows.ts, created[item_rows]))
        )
        n, shared = len(rows), rows.one_request()
        columns = row_columns(rows.take(slice(0, 1)) if shared else rows, entities)
        for name, column in columns.items():
            codes = torch.from_numpy(self._encode(name, column))
            out[name] = codes.expand(n, *codes.shape[1:]) if shared else codes
        return {name: out[name] for name, _, _ in FEATURES}

    def _encode(self, name: str, column: Column) -> np.ndarray:
        codes = self.vocabularies[_SHARED.get(name, name)].encode(column.values)
        # no value: OOV for a single id (it is a real row), PAD inside bags and sequences
        empty = OOV if _KINDS[name] is FieldKind.SPARSE else PAD
        table = np.append(codes, empty)  # index -1 reads the appended code
        return np.ascontiguousarray(table[column.index])

    def remember(self, item_ids: Sequence[str], entities: Entities) -> None:
        """Encode the item features of ``item_ids`` now, not at their first request.

        A loaded ranker remembers the items it knows: serving then finds them remembered
        (new items are still encoded at their first request).
        """
        self._items(as_strings(list(item_ids)), entities)

    def _items(
        self, item_ids: np.ndarray, entities: Entities
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Rows of ``item_ids`` in the remembered codes, new ones encoded first.

        Also returns the code and creation-time arrays those rows index, as of this call.
        """
        ids = item_ids.tolist()
        with self._lock:
            try:  # every item remembered (most requests): one lookup loop in C
                rows = np.fromiter(map(self._item_row.__getitem__, ids), np.int64, len(ids))
            except KeyError:
                remembered = self._item_row.get
                rows = np.array([remembered(i, -1) for i in ids], dtype=np.int64)
            new = rows < 0
            if new.any():
                unique, at = np.unique(item_ids[new], return_inverse=True)
                rows[new] = self._remember(unique, entities)[at]
            return rows, dict(self._item_codes), self._created

    def _remember(self, item_ids: np.ndarray, entities: Entities) -> np.ndarray:
        """Encode ``item_ids`` (none remembered yet) and append them; return their rows."""
        columns, created = item_columns(item_ids, entities, self.max_tags)
        start = len(self._created)
        for name in ITEM_FEATURES:
            codes = self._encode(name, columns[name])
            old = self._item_codes.get(name)
            self._item_codes[name] = codes if old is None else np.concatenate([old, codes])
        self._created = np.concatenate([self._created, created])
        fresh = np.arange(start, start + len(item_ids))
        self._item_row.update(zip(item_ids.tolist(), fresh.tolist(), strict=True))
        return fresh

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved next to a model's weights."""
        return {
            "max_history": self.max_history,
            "max_tags": self.max_tags,
            "vocabularies": {k: v.to_dict() for k, v in self.vocabularies.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlatformFeatures:
        """Inverse of :meth:`to_dict`."""
        return cls(
            {k: Vocabulary.from_dict(v) for k, v in data["vocabularies"].items()},
            int(data["max_history"]),
            int(data["max_tags"]),
        )
