"""Write a synthetic platform into storage: the catalog first, then the event history.

Everything streams: catalog entities go to ``Catalog.put`` in blocks and events to
``EventLog.append`` in tables of at most ``chunk_size`` rows, so writing a 1M-user platform
needs no more memory than generating one block-day.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.compute as pc

from ecorec.core.entities import Ad, Advertiser, Creator, Item, User
from ecorec.data.protocols import Catalog, EventLog
from ecorec.data.synthetic.history import iter_block_days
from ecorec.data.synthetic.population import iter_entities
from ecorec.data.synthetic.spec import PlatformSpec

#: Entities per ``Catalog.put`` (users go per user block).
CATALOG_BLOCK = 10_000
_KINDS = {User: "users", Creator: "creators", Item: "items", Advertiser: "advertisers", Ad: "ads"}


@dataclass(slots=True)
class GenerationStats:
    """What :func:`write_platform` wrote and how long it took.

    ``events`` counts generated events per type; ``events_written`` is what the log stored
    (lower when some event ids were already there, e.g. on a re-run with the same seed).
    """

    users: int = 0
    creators: int = 0
    items: int = 0
    advertisers: int = 0
    ads: int = 0
    events: dict[str, int] = field(default_factory=dict)
    events_written: int = 0
    seconds: float = 0.0

    @property
    def total_events(self) -> int:
        """Generated events of all types."""
        return sum(self.events.values())


def progress_total(spec: PlatformSpec, block: int = CATALOG_BLOCK) -> int:
    """Count the steps :func:`write_platform` reports: catalog blocks, then block-days."""

    def blocks(n: int) -> int:
        return -(-n // block)

    catalog = (
        spec.user_blocks
        + blocks(spec.creators)
        + blocks(spec.items)
        + blocks(spec.advertisers)
        + blocks(spec.ads)
    )
    return catalog + spec.days * spec.user_blocks


def write_platform(
    spec: PlatformSpec,
    catalog: Catalog,
    event_log: EventLog,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationStats:
    """Generate the platform of ``spec`` and write it to ``catalog`` and ``event_log``.

    Args:
        spec: what to generate.
        catalog: receives users, creators, items, advertisers and ads via ``put``.
        event_log: receives the history via ``append`` (Arrow tables in ``EVENT_SCHEMA``).
        progress: called as ``progress(done, total)`` after each catalog block and each
            block-day of events.

    Returns:
        Counts per entity kind and event type, and the seconds it took.

    """
    started = time.perf_counter()
    stats = GenerationStats()
    total, done = progress_total(spec), 0
    for entities in iter_entities(spec, CATALOG_BLOCK):
        if entities:
            catalog.put(entities)
            name = _KINDS[type(entities[0])]
            setattr(stats, name, getattr(stats, name) + len(entities))
        done += 1
        if progress is not None:
            progress(done, total)
    counts: Counter[str] = Counter()
    for table in iter_block_days(spec):
        for start in range(0, table.num_rows, spec.chunk_size):
            chunk = table.slice(start, spec.chunk_size)
            stats.events_written += event_log.append(chunk)
        for row in pc.value_counts(table.column("type")).to_pylist():
            counts[row["values"]] += row["counts"]
        done += 1
        if progress is not None:
            progress(done, total)
    stats.events = dict(sorted(counts.items()))
    stats.seconds = time.perf_counter() - started
    return stats
