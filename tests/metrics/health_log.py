"""Helpers shared by the health-metric tests: a tiny event builder and the time grid."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa

from ecorec.core.events import Event, EventType
from ecorec.data.events import events_to_table

D = 86_400.0
#: Every test window ends here: ``7d`` is then [3D, 10D) and its previous window [-4D, 3D).
END = 10 * D
_ids = itertools.count()


def e(ts: float, user: str, kind: str, **fields: Any) -> Event:
    """One event with a fresh id."""
    return Event(f"e{next(_ids)}", ts, user, EventType(kind), **fields)


def table(events: list[Event]) -> pa.Table:
    """The Arrow form compute_health reads."""
    return events_to_table(events)
