"""What a simulation reports per arm: events of the arm's users, NPS, the comparison table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecorec.data.stores import Stores


def events_of(stores: Stores, user_ids: list[str], start: float, end: float) -> pa.Table:
    """The arm's users' events of the simulated window, from the EventLog."""
    wanted = pa.array(user_ids, pa.string())
    parts = [
        batch.filter(pc.is_in(batch.column("user_id"), value_set=wanted))
        for batch in stores.events.scan_batches(start, end, batch_size=200_000)
    ]
    if not parts:
        from ecorec.data.events import EVENT_SCHEMA

        return EVENT_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def nps(answers: list[float]) -> float | None:
    """Net promoter score: % of 9-10 answers minus % of 0-6 answers."""
    if not answers:
        return None
    a = np.asarray(answers)
    return round(100.0 * (float((a >= 9).mean()) - float((a <= 6).mean())), 2)


def comparison(arms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The headline numbers side by side: metric -> arm -> value."""

    def pick(result: dict[str, Any], *path: str) -> Any:
        value: Any = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    rows = {
        "retention_alive": ("retention", "retention_alive"),
        "retention_d1": ("retention", "retention_d1"),
        "gini": ("health", "ecosystem", "gini"),
        "long_tail_share": ("health", "ecosystem", "long_tail_share"),
        "creator_retention": ("creators", "creator_retention"),
        "ad_revenue": ("health", "business", "ad_revenue"),
        "ecpm": ("health", "business", "ecpm"),
        "negative_feedback_rate": ("health", "user_value", "negative_feedback_rate"),
        "nps": ("nps",),
    }
    out = {
        name: {arm: pick(result, *path) for arm, result in arms.items()}
        for name, path in rows.items()
    }
    out["revenue"] = {
        arm: round(
            (pick(r, "health", "business", "ad_revenue") or 0.0) + r["creators"]["income"], 2
        )
        for arm, r in arms.items()
    }
    return out
