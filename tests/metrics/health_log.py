"""Helpers shared by the health-metric tests: a tiny event builder and the time grid."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa
import pytest

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


def approx_tree(value: Any) -> Any:
    """``value`` with every float wrapped in ``pytest.approx``, through nested dicts and lists.

    Health reports are DuckDB sums computed in parallel: two runs over the same log may differ
    in the last bits of a float, so reports are compared this way, never with ``==``.
    """
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_tree(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    return value
