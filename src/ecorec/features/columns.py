"""Feature columns derived from raw rows and the catalog, before encoding.

A :class:`Column` holds the few distinct values of a feature and, per row, an index into them,
so a million rows (and their ``(n, L)`` sequences) are encoded by encoding the distinct values
once and gathering. :func:`item_columns` derives what depends on the item alone (encoded once
per item and remembered by the encoder); :func:`row_columns` the user, context and behaviour
features; :func:`item_age` the item's age at the row's time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ecorec.features.entities import Entities
from ecorec.features.rows import RawRows
from ecorec.features.vocab import as_strings

_HOUR = 3600.0
_DAY = 86_400.0


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


@cache
def _numbers(count: int) -> np.ndarray:
    """``"0".."count-1"``, made once and read-only (every caller shares it).

    Numbers to strings cost more than the rest of a request's bucketing.
    """
    values = np.arange(count).astype(str)
    values.setflags(write=False)
    return values


def _bucket(x: np.ndarray, top: int) -> Column:
    """``floor(log2(1 + x))`` capped at ``top``, as a column over ``"0".."top"`` (NaN: none)."""
    index = np.full(x.shape, -1, dtype=np.int64)
    known = np.isfinite(x)
    index[known] = np.minimum(np.floor(np.log2(1.0 + np.maximum(x[known], 0.0))), top)
    return Column(_numbers(top + 1), index)


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


def item_age(ts: np.ndarray, created: np.ndarray) -> Column:
    """The ``item_age`` feature: hours from each item's creation (NaN: unknown) to ``ts``."""
    return _bucket((ts - created) / _HOUR, 14)


def row_columns(rows: RawRows, entities: Entities) -> dict[str, Column]:
    """The user, context and behaviour features of ``rows`` (all but the item's).

    Args:
        rows: the rows.
        entities: where users and history items are looked up.

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
        "scene": _column(rows.scene),
        "hour": Column(_numbers(24), ((rows.ts % _DAY) // _HOUR).astype(np.int64)),
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
