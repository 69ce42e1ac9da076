"""The raw rows every ranking feature is derived from, made offline or online.

Offline, :func:`offline_rows` gives each impression sample the user's items consumed strictly
before its timestamp (point-in-time: nothing at or after the impression leaks in); online,
:func:`online_rows` reads the request's :class:`~ecorec.core.profile.Profile`, whose ``recent``
list the nearline path fills from the same events. A user's behaviour is their distinct
consumed items in order of first consumption, the last ``max_history`` of them, which is what
``Profile.recent`` holds for an item consumed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ecorec.core.contracts import Request
from ecorec.core.profile import RECENT_LIMIT, Profile
from ecorec.features.vocab import as_strings


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

    def one_request(self) -> bool:
        """Whether every row has the first row's user, time, context and behaviour.

        Such rows (one request's candidates, as :func:`online_rows` makes them) differ only in
        their item, so the encoder derives and encodes everything else once and broadcasts it.
        """
        columns = (self.user_id, self.ts, self.scene, self.device, self.activity)
        return len(self) > 1 and all(
            _same_rows(a) for a in (*columns, self.history, self.history_ts)
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
    # every row but the item is the request's: read-only views of one row, no copies
    device = str(request.context.get("device", "") or "")
    return RawRows(
        user_id=np.broadcast_to(np.array(request.user_id), n),
        item_id=as_strings(list(item_ids)),
        ts=np.broadcast_to(np.array(float(request.ts)), n),
        scene=np.broadcast_to(np.array(str(request.scene or "")), n),
        device=np.broadcast_to(np.array(device), n),
        history=np.broadcast_to(history, (n, max_history)),
        history_items=as_strings([item for item, _ in last]),
        history_ts=np.broadcast_to(history_ts, (n, max_history)),
        activity=np.broadcast_to(np.array(min(len(consumed), RECENT_LIMIT), dtype=np.int64), n),
    )


def _same_rows(values: np.ndarray) -> bool:
    """Whether every row of ``values`` equals the first (NaN equal to NaN)."""
    if values.strides[0] == 0:  # broadcast from one row
        return True
    first = np.broadcast_to(values[:1], values.shape)
    return bool(np.array_equal(values, first, equal_nan=values.dtype.kind == "f"))


def _optional(table: pa.Table, name: str, n: int) -> np.ndarray:
    if name in table.column_names:
        return as_strings(table.column(name))
    return np.full(n, "", dtype="<U1")
