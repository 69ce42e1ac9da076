"""Tiny hand-made datasets for the metadata-driven channels' known-answer tests."""

from __future__ import annotations

import itertools

import pyarrow as pa

from ecorec.core.entities import Item, User
from ecorec.core.events import Event
from ecorec.data.catalog import SQLCatalog
from ecorec.data.training import TrainingData
from ecorec.data.urls import open_event_log

DAY = 86_400.0


def table(rows):
    """Interactions table from ``(user, item, ts[, rating])`` rows."""
    rows = [r if len(r) == 4 else (*r, 5.0) for r in rows]
    users, items, stamps, ratings = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table(
        {
            "user_id": pa.array(list(users), pa.string()),
            "item_id": pa.array(list(items), pa.string()),
            "rating": pa.array([float(r) for r in ratings], pa.float64()),
            "timestamp": pa.array([float(t) for t in stamps], pa.float64()),
        }
    )


def catalog(tmp_path, entities, name="catalog.db"):
    """A real SQLite catalog holding ``entities``."""
    store = SQLCatalog(f"sqlite:///{tmp_path / name}")
    store.put(entities)
    return store


def data(tmp_path, entities, rows):
    """TrainingData over a SQLite catalog and an interactions table."""
    return TrainingData(catalog=catalog(tmp_path, entities), table=table(rows))


def event_data(tmp_path, entities, events):
    """TrainingData over a SQLite catalog and a SQLite event log of ``(user, type, item, ts)``."""
    log = open_event_log(f"sqlite:///{tmp_path / 'events.db'}")
    counter = itertools.count()
    log.append(
        [
            Event(f"e{next(counter)}", float(ts), user, kind, item_id=item, value=value)
            for user, kind, item, ts, value in (
                e if len(e) == 5 else (*e, 10.0 if e[1] == "play" else None) for e in events
            )
        ]
    )
    return TrainingData(events=log, catalog=catalog(tmp_path, entities))


def items(spec):
    """Items from ``(item_id, category, quality)`` triples."""
    return [Item(i, category=c, quality=q) for i, c, q in spec]


def users(spec):
    """Users from ``(user_id, segment)`` pairs."""
    return [User(u, segment=s) for u, s in spec]
