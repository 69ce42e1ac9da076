"""Load a dataset into the stores, all or nothing as far as the input can make it.

The whole input is parsed and validated before anything is written (a bad row anywhere means
nothing is written); then the catalog is written in one transaction and the events in one
atomic append. Event ids are derived from the rows, so ingesting the same file twice stores
nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ecorec.core.events import EventType
from ecorec.data.datasets.base import Dataset
from ecorec.data.events import EVENT_SCHEMA, table_to_events
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles.delta import deltas_from_events
from ecorec.data.protocols import EventLog, ProfileStore
from ecorec.data.stores import Stores


@dataclass
class IngestStats:
    """What an ingest wrote."""

    dataset: str
    users: int
    items: int
    events: int
    events_new: int
    profiles: int = 0


def dataset_events(dataset: Dataset) -> pa.Table:
    """The dataset's interactions as ``rating`` events (``click`` where there is no rating).

    ``event_id`` is ``<dataset>:<user>:<item>:<timestamp>``, with ``#k`` appended to the k-th
    repeat of the same key, so ids are stable across re-ingests of the same file.
    """
    table = dataset.interactions
    n = table.num_rows
    users = table.column("user_id").to_pylist()
    items = table.column("item_id").to_pylist()
    ratings = table.column("rating").to_numpy(zero_copy_only=False).astype(float)
    stamps = table.column("timestamp").to_numpy(zero_copy_only=False).astype(float)
    stamps = np.where(np.isnan(stamps), 0.0, stamps)
    has_rating = ~np.isnan(ratings)
    ids: list[str] = []
    seen: dict[str, int] = {}
    for user, item, ts in zip(users, items, stamps.tolist(), strict=True):
        key = f"{dataset.name}:{user}:{item}:{ts:g}"
        k = seen.get(key, 0)
        seen[key] = k + 1
        ids.append(key if k == 0 else f"{key}#{k}")
    types = np.where(has_rating, EventType.RATING.value, EventType.CLICK.value)
    return pa.table(
        {
            "event_id": pa.array(ids, pa.string()),
            "ts": pa.array(stamps, pa.float64()),
            "user_id": pa.array(users, pa.string()),
            "type": pa.array(types.tolist(), pa.string()),
            "item_id": pa.array(items, pa.string()),
            "ad_id": pa.nulls(n, pa.string()),
            "creator_id": pa.nulls(n, pa.string()),
            "request_id": pa.nulls(n, pa.string()),
            "position": pa.nulls(n, pa.int32()),
            "value": pa.array(
                np.where(has_rating, ratings, np.nan), pa.float64(), mask=~has_rating
            ),
            "extra": pa.nulls(n, pa.string()),
        },
        schema=EVENT_SCHEMA,
    )


def rebuild_profiles(
    events: EventLog,
    lookup: ItemLookup,
    profiles: ProfileStore,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute the online profile of every user in ``events`` from scratch.

    Recomputing (rather than adding deltas) keeps re-ingests idempotent: interest counts never
    double. Consent flags are the one thing only the profile store knows, so they are kept.
    Returns the number of users rebuilt.
    """
    reset: set[str] = set()
    for batch in events.scan_batches(batch_size=200_000):
        for user_id, delta in deltas_from_events(table_to_events(batch), lookup).items():
            if user_id not in reset:
                consent = profiles.get(user_id).consent
                profiles.delete(user_id)
                delta.consent = {**consent, **delta.consent}
                reset.add(user_id)
            profiles.apply(user_id, delta)
        if progress is not None:
            progress(batch.num_rows)
    return len(reset)


def ingest_dataset(dataset: Dataset, stores: Stores) -> IngestStats:
    """Write ``dataset`` into ``stores`` and fold its events into the profiles."""
    users, items = dataset.complete_entities()
    table = dataset_events(dataset)
    stores.catalog.put([*users, *items])
    new = stores.events.append(table)
    lookup = ItemLookup.from_catalog(stores.catalog)
    touched = rebuild_profiles(stores.events, lookup, stores.profiles)
    return IngestStats(dataset.name, len(users), len(items), table.num_rows, new, touched)
