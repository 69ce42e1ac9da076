"""Assemble the events of one block-day into an :data:`EVENT_SCHEMA` table, column by column.

Events are collected as numeric parts (one per event type: indices, times, values), sorted by
time once, and only then turned into strings: ids from fixed-width formats and ``extra`` JSON
from a handful of templates whose only variable piece is a number. No Python object is built
per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ecorec.core.events import EventType
from ecorec.data.events import EVENT_SCHEMA
from ecorec.data.synthetic.ids import DIGITS4, IdFormat, format_ids

#: Event type codes: the position in :class:`EventType`.
TYPE_CODE = {kind: code for code, kind in enumerate(EventType)}
_TYPE_NAMES = pa.array([kind.value for kind in EventType], pa.string())
#: Canned comment texts, so comments carry ``extra.text`` like real ones.
COMMENTS = ("love this", "so good", "haha", "first!", "thanks for sharing", "not sure about this")


@dataclass(frozen=True, slots=True)
class ExtraTemplate:
    """``extra`` text of one kind: ``head + body + tail``; body is a number (or nothing)."""

    head: str
    body: str = "none"  # "none", "sci" (d.ddde-XX) or "int" (zero-padded, ``width`` digits)
    tail: str = ""
    width: int = 0


@dataclass(slots=True)
class EventColumns:
    """Numeric parts of the events of one block-day, joined and formatted by :meth:`table`."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(
        self,
        kind: EventType,
        ts: np.ndarray,
        user: np.ndarray,
        **columns: np.ndarray | None,
    ) -> None:
        """Add events of one type.

        ``columns`` may be ``item``, ``ad``, ``creator``, ``request``, ``position``, ``value``,
        ``extra`` (template code) and ``extra_num`` arrays; missing ones are null.
        """
        n = len(ts)
        if n == 0:
            return
        part = {"type": np.full(n, TYPE_CODE[kind], np.int8), "ts": ts, "user": user}
        part.update({k: v for k, v in columns.items() if v is not None})
        self.parts.append(part)

    def table(
        self,
        event_ids: str,
        request_ids: str,
        formats: dict[str, IdFormat],
        templates: list[ExtraTemplate],
    ) -> pa.Table:
        """Join the parts, sort them by time and build the Arrow table.

        Args:
            event_ids: prefix of this block-day's event ids (a counter follows).
            request_ids: prefix of this block-day's request ids (the request index follows).
            formats: id formats of ``user``, ``item``, ``ad`` and ``creator``.
            templates: ``extra`` templates; template 0 means null.

        """
        cols = {name: _join(self.parts, name) for name in _FILL}
        order = np.argsort(cols["ts"], kind="stable")
        cols = {name: col[order] for name, col in cols.items()}
        n = len(order)
        width = max(8, len(str(max(n - 1, 0))))
        req_width = max(7, len(str(int(cols["request"].max(initial=0)))))
        arrays = [
            format_ids(event_ids, width, np.arange(n)),
            pa.array(cols["ts"]),
            formats["user"].many(cols["user"]),
            _TYPE_NAMES.take(pa.array(cols["type"])),
            *(_ids(formats[name], cols[name]) for name in ("item", "ad", "creator")),
            _ids(IdFormat(request_ids, req_width), cols["request"]),
            pa.array(cols["position"], mask=cols["position"] < 0),
            pa.array(cols["value"], mask=np.isnan(cols["value"])),
            format_extra(templates, cols["extra"], cols["extra_num"]),
        ]
        return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


# Column -> (dtype, fill for events that do not have it).
_FILL: dict[str, tuple[type, float]] = {
    "ts": (np.float64, np.nan),
    "user": (np.int64, -1),
    "type": (np.int8, -1),
    "item": (np.int64, -1),
    "ad": (np.int64, -1),
    "creator": (np.int64, -1),
    "request": (np.int64, -1),
    "position": (np.int32, -1),
    "value": (np.float64, np.nan),
    "extra": (np.int8, 0),
    "extra_num": (np.float64, 0.0),
}


def _join(parts: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    dtype, fill = _FILL[name]
    pieces: list[np.ndarray] = [
        np.asarray(p[name], dtype=dtype) if name in p else np.full(len(p["ts"]), fill, dtype)
        for p in parts
    ]
    return np.concatenate(pieces) if pieces else np.empty(0, dtype)


def _ids(fmt: IdFormat, numbers: np.ndarray) -> pa.Array:
    valid = numbers >= 0
    return fmt.many(numbers, None if valid.all() else valid)


def _sci(x: np.ndarray) -> np.ndarray:
    """ASCII ``d.ddde-XX`` (4 significant digits) of positive numbers, as an (n, 9) matrix."""
    x = np.clip(x, 1e-99, 9.999e99)
    exp = np.floor(np.log10(x)).astype(np.int64)
    mant = np.rint(x / 10.0**exp * 1000).astype(np.int64)
    low, high = mant < 1000, mant >= 10_000
    mant[low], exp[low] = np.rint(x[low] / 10.0 ** exp[low] * 10_000), exp[low] - 1
    mant[high], exp[high] = mant[high] // 10, exp[high] + 1
    out = np.empty((len(x), 9), dtype=np.uint8)
    digits = DIGITS4[np.clip(mant, 1000, 9999)]
    out[:, 0], out[:, 1], out[:, 2:5] = digits[:, 0], ord("."), digits[:, 1:]
    out[:, 5], out[:, 6] = ord("e"), np.where(exp < 0, ord("-"), ord("+"))
    out[:, 7:] = DIGITS4[np.abs(exp)][:, 2:]
    return out


def format_extra(templates: list[ExtraTemplate], code: np.ndarray, num: np.ndarray) -> pa.Array:
    """Build ``extra`` JSON texts: ``templates[code]`` around ``num``; code 0 is null.

    Rows are laid out in a fixed-width byte matrix and the unused tail of each row is masked
    away, which keeps the whole column a few numpy passes.
    """
    n = len(code)
    bodies = {"none": 0, "sci": 9}
    parts = [(t.head.encode(), bodies.get(t.body, t.width), t.tail.encode()) for t in templates]
    lengths = np.array([len(h) + b + len(t) for h, b, t in parts])
    width = int(lengths.max(initial=0))
    matrix = np.zeros((n, width), dtype=np.uint8)
    for c, (head, body, tail) in enumerate(parts):
        if c == 0:
            continue
        rows = np.flatnonzero(code == c)
        if len(rows) == 0:
            continue
        at = len(head)
        matrix[rows, :at] = np.frombuffer(head, dtype=np.uint8)
        if templates[c].body == "sci":
            matrix[rows, at : at + body] = _sci(num[rows])
        elif body:
            text = format_ids("", body, num[rows].astype(np.int64))
            chars = np.frombuffer(text.buffers()[2], dtype=np.uint8)[: len(rows) * body]
            matrix[rows, at : at + body] = chars.reshape(len(rows), body)
        matrix[rows, at + body : at + body + len(tail)] = np.frombuffer(tail, dtype=np.uint8)
    row_len = np.where(code > 0, lengths[code], 0)
    data = matrix[np.arange(width) < row_len[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(row_len, out=offsets[1:])
    valid = code > 0
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=int(n - valid.sum()))
