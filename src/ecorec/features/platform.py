"""Ranking features of a running platform, built the same way offline and online.

Both paths first reduce their input to :class:`RawRows` (who, what, when, in which context, and
the behaviour before it), then one function, :meth:`PlatformFeatures.encode`, derives every
feature and encodes it. Only the making of ``RawRows`` differs:

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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ecorec.core.contracts import Request
from ecorec.core.profile import RECENT_LIMIT, Profile
from ecorec.features.entities import Entities
from ecorec.features.schema import OOV, PAD, Field, FieldKind, Schema
from ecorec.features.vocab import Vocabulary, as_strings

_HOUR = 3600.0
_DAY = 86_400.0


@dataclass
class RawRows:
    """What every feature of a row is derived from.

    Attributes:
        user_id, item_id, scene, device: ``(n,)`` strings (``""``: unknown).
        ts: ``(n,)`` seconds: the moment the row is scored (the impression's time).
        history: ``(n, L)`` the items consumed before ``ts``, oldest first, as indices into
            ``history_items`` (-1: padding, at the end). Indices, not strings: a million rows
            of 50 item ids as strings cost seconds to sort and encode; their distinct items
            are a few thousand.
        history_items: the distinct item ids ``history`` points into.
        history_ts: ``(n, L)`` when each was first consumed (NaN under padding).
        activity: ``(n,)`` distinct items consumed before ``ts`` (capped at
            :data:`~ecorec.core.profile.RECENT_LIMIT`, as a profile is).

    """

    user_id: np.ndarray
    item_id: np.ndarray
    ts: np.ndarray
    scene: np.ndarray
    device: np.ndarray
    history: np.ndarray
    history_items: np.ndarray
    history_ts: np.ndarray
    activity: np.ndarray

    def __len__(self) -> int:
        return len(self.user_id)

    def take(self, rows: np.ndarray | slice) -> RawRows:
        """The rows at ``rows`` (``history_items`` is shared)."""
        return RawRows(
            self.user_id[rows],
            self.item_id[rows],
            self.ts[rows],
            self.scene[rows],
            self.device[rows],
            self.history[rows],
            self.history_items,
            self.history_ts[rows],
            self.activity[rows],
        )

    def history_ids(self, row: int) -> list[str]:
        """The item ids of row ``row``'s history, oldest first (for tests and explanations)."""
        return [str(self.history_items[i]) for i in self.history[row] if i >= 0]


def offline_rows(samples: pa.Table, positives: pa.Table, max_history: int) -> RawRows:
    """Raw rows of impression ``samples`` with point-in-time behaviour from ``positives``.

    Args:
        samples: ``user_id, item_id, ts`` and optionally ``scene, device`` per row.
        positives: ``user_id, item_id, ts`` of consumption events (any order).
        max_history: the sequence width ``L``.

    """
    users = as_strings(samples.column("user_id"))
    ts = samples.column("ts").to_numpy().astype(np.float64)
    n = len(users)
    history = np.full((n, max_history), -1, dtype=np.int64)
    history_ts = np.full((n, max_history), np.nan)
    activity = np.zeros(n, dtype=np.int64)
    p_user = as_strings(positives.column("user_id"))
    item_values, p_item = np.unique(as_strings(positives.column("item_id")), return_inverse=True)
    p_ts = positives.column("ts").to_numpy().astype(np.float64)
    if len(p_user):
        user_values, codes = np.unique(np.concatenate([p_user, users]), return_inverse=True)
        p_code, s_code = codes[: len(p_user)], codes[len(p_user) :]
        # first consumption of each (user, item): a profile's recent keeps the first time
        order = np.lexsort((p_ts, p_item, p_code))
        p_code, p_item, p_ts = p_code[order], p_item[order], p_ts[order]
        first = np.ones(len(p_code), dtype=bool)
        first[1:] = (p_code[1:] != p_code[:-1]) | (p_item[1:] != p_item[:-1])
        p_code, p_item, p_ts = p_code[first], p_item[first], p_ts[first]
        order = np.lexsort((p_ts, p_code))
        p_code, p_item, p_ts = p_code[order], p_item[order], p_ts[order]
        # one sortable key per (user, time): a user's events sit in one run, in time order
        span = float(max(p_ts.max(), ts.max() if n else 0.0) + 1.0)
        p_key = p_code * span + p_ts
        end = np.searchsorted(p_key, s_code * span + ts, side="left")
        begin_user = np.searchsorted(p_key, s_code * span, side="left")
        activity = np.minimum(end - begin_user, RECENT_LIMIT)
        begin = np.maximum(begin_user, end - max_history)
        at = begin[:, None] + np.arange(max_history)
        filled = at < end[:, None]
        at = np.minimum(at, len(p_item) - 1)
        history = np.where(filled, p_item[at], -1)
        history_ts = np.where(filled, p_ts[at], np.nan)
    return RawRows(
        user_id=users,
        item_id=as_strings(samples.column("item_id")),
        ts=ts,
        scene=_optional(samples, "scene", n),
        device=_optional(samples, "device", n),
        history=history,
        history_items=item_values,
        history_ts=history_ts,
        activity=activity,
    )


def online_rows(
    request: Request, profile: Profile, item_ids: Sequence[str], max_history: int
) -> RawRows:
    """Raw rows of ``item_ids`` scored for ``request`` now, from the user's ``profile``."""
    seen: dict[str, float] = {}
    for item_id, ts in profile.recent:
        if ts < request.ts and item_id not in seen:
            seen[item_id] = ts
    consumed = sorted(seen.items(), key=lambda pair: pair[1])
    last = consumed[-max_history:]
    n = len(item_ids)
    history = np.full((1, max_history), -1, dtype=np.int64)
    history_ts = np.full((1, max_history), np.nan)
    history[0, : len(last)] = np.arange(len(last))
    history_ts[0, : len(last)] = [ts for _, ts in last]
    return RawRows(
        user_id=np.full(n, request.user_id),
        item_id=as_strings(list(item_ids)),
        ts=np.full(n, float(request.ts)),
        scene=np.full(n, str(request.scene or "")),
        device=np.full(n, str(request.context.get("device", "") or "")),
        history=np.broadcast_to(history, (n, max_history)),
        history_items=as_strings([item for item, _ in last]),
        history_ts=np.broadcast_to(history_ts, (n, max_history)),
        activity=np.full(n, min(len(consumed), RECENT_LIMIT), dtype=np.int64),
    )


def _optional(table: pa.Table, name: str, n: int) -> np.ndarray:
    if name in table.column_names:
        return as_strings(table.column(name))
    return np.full(n, "", dtype="<U1")


@dataclass(frozen=True)
class Column:
    """One feature of many rows: ``values[index]``, where ``index`` is -1 for no value.

    Encoding the few distinct ``values`` once and gathering by ``index`` is what keeps a
    million rows (and their ``(n, L)`` sequences) fast to encode.
    """

    values: np.ndarray
    index: np.ndarray


def _column(strings: np.ndarray) -> Column:
    """A column of one string per row."""
    values, index = np.unique(strings, return_inverse=True)
    return Column(values, index.reshape(strings.shape))


def _gathered(values: list[Any], at: np.ndarray) -> Column:
    """A column whose row ``r`` has ``values[at[r]]`` (``at`` indexes distinct entities)."""
    return Column(as_strings(values), at)


def _bucket(x: np.ndarray, top: int) -> Column:
    """``floor(log2(1 + x))`` capped at ``top``, as a column over ``"0".."top"`` (NaN: none)."""
    index = np.full(x.shape, -1, dtype=np.int64)
    known = np.isfinite(x)
    index[known] = np.minimum(np.floor(np.log2(1.0 + np.maximum(x[known], 0.0))), top)
    return Column(np.arange(top + 1).astype(str), index)


def _decile(values: list[float]) -> list[str]:
    """``q0..q9`` of values in [0, 1] (``""`` where missing)."""
    return [f"q{min(max(int(v * 10), 0), 9)}" if math.isfinite(v) else "" for v in values]


def _per_unique(ids: np.ndarray, read: Callable[[str], Any]) -> tuple[list[Any], np.ndarray]:
    """``read`` once per distinct id; the values and each row's index into them."""
    unique, inverse = np.unique(ids, return_inverse=True)
    return [read(str(u)) for u in unique.tolist()], inverse.reshape(ids.shape)


def _num(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


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


#: Features of the item alone (its creator's included): encoded once per item and remembered.
ITEM_FEATURES = (
    "item_id",
    "category",
    "tags",
    "item_quality",
    "creator_id",
    "creator_stage",
    "creator_quality",
)


def item_columns(
    item_ids: np.ndarray, entities: Entities, max_tags: int
) -> tuple[dict[str, Column], np.ndarray]:
    """The :data:`ITEM_FEATURES` of distinct ``item_ids``, one index row each.

    Also returns each item's ``created_at`` (NaN when unknown), for its age at a row's time.
    """
    entities.prefetch_items(item_ids.tolist())
    items = [entities.item(str(i)) for i in item_ids.tolist()]
    at = np.arange(len(items))
    creator_ids = [(i.creator_id or "") if i else "" for i in items]
    creators = [entities.creator(c) for c in creator_ids]
    tag_values = sorted({t for i in items if i is not None for t in i.tags if t})
    tag_at = {t: k for k, t in enumerate(tag_values)}
    tags = np.full((len(items), max_tags), -1, dtype=np.int64)
    for r, item in enumerate(items):
        kept = [tag_at[t] for t in (item.tags if item is not None else ()) if t][:max_tags]
        tags[r, : len(kept)] = kept
    columns = {
        "item_id": Column(as_strings(item_ids), at),
        "category": _gathered([_category(i) for i in items], at),
        "tags": Column(as_strings(tag_values), tags),
        "item_quality": _gathered(_decile([_num(i.quality) if i else math.nan for i in items]), at),
        "creator_id": _gathered(creator_ids, at),
        "creator_stage": _gathered([str(c.stage) if c else "" for c in creators], at),
        "creator_quality": _gathered(
            _decile([_num(c.quality) if c else math.nan for c in creators]), at
        ),
    }
    created = np.asarray([_num(i.created_at) if i else math.nan for i in items])
    return columns, created


def row_columns(rows: RawRows, entities: Entities, created: np.ndarray) -> dict[str, Column]:
    """The user, context and behaviour features of ``rows``, and the item's age then.

    Args:
        rows: the rows.
        entities: where users and history items are looked up.
        created: ``(n,)`` the row's item's creation time (NaN: unknown).

    """
    users, u_at = _per_unique(rows.user_id, entities.user)

    def user_attr(read: Callable[[Any], Any]) -> Column:
        return _gathered([read(u) if u is not None else "" for u in users], u_at)

    history_category = [_category(entities.item(str(i))) for i in rows.history_items.tolist()]
    return {
        "user_id": _column(rows.user_id),
        "segment": user_attr(lambda u: u.segment or ""),
        "region": user_attr(lambda u: u.region or ""),
        "age": user_attr(lambda u: _age_group(u.attrs.get("age"))),
        "gender": user_attr(lambda u: str(u.attrs.get("gender", "") or "")),
        "activity": _bucket(rows.activity.astype(np.float64), 8),
        "item_age": _bucket((rows.ts - created) / _HOUR, 14),
        "scene": _column(rows.scene),
        "hour": Column(np.arange(24).astype(str), ((rows.ts % _DAY) // _HOUR).astype(np.int64)),
        "device": _column(rows.device),
        "history": Column(rows.history_items, rows.history),
        "history_category": Column(as_strings(history_category), rows.history),
        "history_gap": _bucket((rows.ts[:, None] - rows.history_ts) / _HOUR, 14),
    }


def _category(item: Any) -> str:
    return (item.category or "") if item is not None else ""


def _age_group(value: Any) -> str:
    age = _num(value)
    if math.isnan(age):
        return ""
    return str(min(int(age // 10) * 10, 70))


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
        # scored before, and their codes do not change while this encoder is loaded
        self._item_row: dict[str, int] = {}
        self._item_codes: dict[str, np.ndarray] = {}
        self._created = np.empty(0)

    @classmethod
    def fit(
        cls, rows: RawRows, entities: Entities, max_history: int = 50, max_tags: int = 8
    ) -> PlatformFeatures:
        """Learn every vocabulary from ``rows`` (the training part)."""
        unique, at = np.unique(rows.item_id, return_inverse=True)
        items, created = item_columns(unique, entities, max_tags)
        columns = {**items, **row_columns(rows, entities, created[at])}
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
        """The model inputs of ``rows``: feature -> ``int64`` codes (PAD where empty)."""
        unique, at = np.unique(rows.item_id, return_inverse=True)
        item_rows = self._items(unique, entities)[at]
        out = {name: torch.from_numpy(codes[item_rows]) for name, codes in self._item_codes.items()}
        columns = row_columns(rows, entities, self._created[item_rows])
        for name, column in columns.items():
            out[name] = torch.from_numpy(self._encode(name, column))
        return {name: out[name] for name, _, _ in FEATURES}

    def _encode(self, name: str, column: Column) -> np.ndarray:
        codes = self.vocabularies[_SHARED.get(name, name)].encode(column.values)
        # no value: OOV for a single id (it is a real row), PAD inside bags and sequences
        empty = OOV if _KINDS[name] is FieldKind.SPARSE else PAD
        table = np.append(codes, empty)  # index -1 reads the appended code
        return np.ascontiguousarray(table[column.index])

    def _items(self, item_ids: np.ndarray, entities: Entities) -> np.ndarray:
        """Rows of the remembered item codes for distinct ``item_ids``, encoding new ones."""
        rows = np.fromiter((self._item_row.get(i, -1) for i in item_ids.tolist()), np.int64)
        new = rows < 0
        if new.any():
            columns, created = item_columns(item_ids[new], entities, self.max_tags)
            start = len(self._created)
            for name in ITEM_FEATURES:
                codes = self._encode(name, columns[name])
                old = self._item_codes.get(name)
                self._item_codes[name] = codes if old is None else np.concatenate([old, codes])
            self._created = np.concatenate([self._created, created])
            fresh = np.arange(start, start + int(new.sum()))
            self._item_row.update(zip(item_ids[new].tolist(), fresh.tolist(), strict=True))
            rows[new] = fresh
        return rows

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
