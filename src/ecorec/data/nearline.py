"""Nearline statistics: what the stream consumer keeps up to date as feedback arrives.

Item and creator counters, a time-decayed trending score per item, and bandit tallies per
``(policy, arm)``, in SQL tables (SQLite or PostgreSQL through SQLAlchemy Core, one code path).

The stream delivers at least once, so :meth:`NearlineStats.apply` is idempotent: the event ids
of a batch are inserted into a processed-ids table first (insert-if-absent, in the same
transaction as every update), and only the ids that were new touch the statistics. A replayed
or re-ordered batch changes nothing twice.

Trending uses an exponential decay with a half-life ``h``. A row stores ``score`` as seen at
``ts``, the newest event time it has absorbed; an event at ``t`` with weight ``w`` adds
``w * 2^(-(T - t)/h)`` where ``T = max(ts, t)`` after the old score was brought forward to
``T``. This equals ``sum_i w_i 2^(-(T - t_i)/h)`` over all events whatever their arrival order,
so updates commute (up to float rounding) and late events count with their own age. The sort
key ``log2(score) + ts/h`` ranks items the same at every reading time, so ``trending`` is an
indexed ``ORDER BY`` and the decay to ``now`` is applied only to the ``k`` rows returned.

Bandit decisions are impressions whose ``extra`` names an ``arm`` or a ``policy`` (see
:mod:`ecorec.bandits.feedback`). Each counts one pull; it earns one reward when a reward event
(``click``) names the same ``request_id``, ``user_id``, ``item_id``. A click that arrives before
its impression waits in a pending table and is counted when the impression comes.

Processed ids, decisions and pending clicks can be dropped after a retention period with
:meth:`NearlineStats.prune`; an event redelivered after its id was pruned would count again, so
the retention must exceed the longest outbox or stream delay (default advice: 7 days).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ecorec.core.events import Event, EventType
from ecorec.data.catalog.sql import create_catalog_engine
from ecorec.data.chunks import sql_chunks
from ecorec.data.nearline_schema import (
    DEFAULT_TRENDING_WEIGHTS,
    ArmTally,
    BanditOutcome,
    BatchResult,
    CreatorOf,
    NearlineConfig,
    build_tables,
    decision_of,
)

__all__ = [
    "DEFAULT_TRENDING_WEIGHTS",
    "ArmTally",
    "BatchResult",
    "NearlineConfig",
    "NearlineStats",
]

#: Ids per ``IN (...)`` clause, well under SQLite's bound-parameter limit.
#: Key of the PostgreSQL advisory lock that serializes consumers across processes.
_PG_LOCK_KEY = 0x6E6561726C696E  # "nearlin"


class NearlineStats:
    """Idempotent nearline statistics in SQL, fed by the stream consumer.

    Args:
        database_url: ``sqlite:///path.db`` or ``postgresql://user@host/db``.
        config: weights, half-life, reward types, table prefix.

    Example:
        >>> from ecorec.core.events import Event, EventType
        >>> stats = NearlineStats("sqlite:///:memory:")
        >>> stats.handle([Event("e1", 100.0, "u1", EventType.CLICK, item_id="i1")])
        1
        >>> stats.handle([Event("e1", 100.0, "u1", EventType.CLICK, item_id="i1")])
        0
        >>> stats.item_stats("i1")
        {'click': 1}

    """

    def __init__(self, database_url: str, config: NearlineConfig | None = None) -> None:
        self.config = config or NearlineConfig()
        self.engine = create_catalog_engine(database_url)
        self._metadata = sa.MetaData()
        self._t = build_tables(self._metadata, self.config.table_prefix)
        self._lock = threading.Lock()  # one writer per process; SQL serializes the rest
        self._postgres = self.engine.dialect.name == "postgresql"
        try:
            self._metadata.create_all(self.engine)
        except sa.exc.DBAPIError:
            # Two processes creating the tables at once: the loser sees them on a second look.
            self._metadata.create_all(self.engine)

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self._postgres else sqlite.insert)(table)

    def handle(self, events: Sequence[Event], creator_of: CreatorOf | None = None) -> int:
        """Apply a batch (see :meth:`apply`) and return how many of its events were new."""
        return self.apply(events, creator_of).new

    def apply(
        self,
        events: Sequence[Event],
        creator_of: CreatorOf | None = None,
        now: float | None = None,
    ) -> BatchResult:
        """Apply a batch in one transaction; events already processed change nothing.

        Args:
            events: any order, duplicates allowed.
            creator_of: item id -> creator id, for events that carry no ``creator_id``.
            now: processing time recorded with each id (default: the clock), for pruning.

        Returns:
            The number of new events and, per newly rewarded decision, ``(policy, arm, 1.0)``.

        """
        unique = list({e.event_id: e for e in reversed(events)}.values())[::-1]
        if not unique:
            return BatchResult(0, [])
        at = time.time() if now is None else float(now)
        with self._lock, self.engine.begin() as conn:
            if self._postgres:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            fresh = self._claim(conn, [e.event_id for e in unique], at)
            new = [e for e in unique if e.event_id in fresh]
            if not new:
                return BatchResult(0, [])
            self._count(conn, new, creator_of)
            self._trend(conn, new)
            outcomes = self._bandits(conn, new, at)
        return BatchResult(len(new), outcomes)

    def _claim(self, conn: sa.Connection, ids: list[str], at: float) -> set[str]:
        """Insert the ids not yet processed and return them.

        This is the transaction's first statement and a write, so SQLite holds its write lock
        from here to the commit: the reads that follow cannot be overtaken by another writer.
        """
        table = self._t["processed"]
        statement = self._insert(table).on_conflict_do_nothing().returning(table.c.event_id)
        rows = conn.execute(statement, [{"event_id": i, "processed_at": at} for i in ids])
        return {row[0] for row in rows}

    def _bump(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        statement = self._insert(table)
        keys = [c.name for c in table.primary_key.columns]
        counts = [c.name for c in table.c if not c.primary_key]
        statement = statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: table.c[name] + statement.excluded[name] for name in counts},
        )
        conn.execute(statement, rows)

    def _count(
        self, conn: sa.Connection, events: list[Event], creator_of: CreatorOf | None
    ) -> None:
        items: Counter[tuple[str, str]] = Counter()
        creators: Counter[tuple[str, str]] = Counter()
        for e in events:
            kind = EventType(e.type).value
            if e.item_id:
                items[e.item_id, kind] += 1
            creator = e.creator_id or (creator_of(e.item_id) if creator_of and e.item_id else None)
            if creator:
                creators[creator, kind] += 1
        self._bump(
            conn,
            self._t["items"],
            [{"item_id": i, "type": k, "n": n} for (i, k), n in items.items()],
        )
        self._bump(
            conn,
            self._t["creators"],
            [{"creator_id": c, "type": k, "n": n} for (c, k), n in creators.items()],
        )

    def _trend(self, conn: sa.Connection, events: list[Event]) -> None:
        weights = self.config.trending_weights
        h = self.config.half_life_s
        added: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for e in events:
            weight = weights.get(EventType(e.type).value, 0.0)
            if e.item_id and weight > 0:
                added[e.item_id].append((float(e.ts), weight))
        if not added:
            return
        table = self._t["trending"]
        stored: dict[str, tuple[float, float]] = {}
        for chunk in sql_chunks(sorted(added)):
            query = sa.select(table.c.item_id, table.c.score, table.c.ts).where(
                table.c.item_id.in_(chunk)
            )
            stored.update({r.item_id: (r.score, r.ts) for r in conn.execute(query)})
        rows = []
        for item_id, contributions in added.items():
            score, ts = stored.get(item_id, (0.0, -math.inf))
            top = max(ts, max(t for t, _ in contributions))
            score = score * 2.0 ** (-(top - ts) / h) if score else 0.0
            score += sum(w * 2.0 ** (-(top - t) / h) for t, w in contributions)
            rows.append(
                {
                    "item_id": item_id,
                    "score": score,
                    "ts": top,
                    "rank_key": math.log2(score) + top / h,
                }
            )
        statement = self._insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["item_id"],
            set_={k: statement.excluded[k] for k in ("score", "ts", "rank_key")},
        )
        conn.execute(statement, rows)

    def _bandits(self, conn: sa.Connection, events: list[Event], at: float) -> list[BanditOutcome]:
        decisions, pending = self._t["decisions"], self._t["pending"]
        reward_types = set(self.config.reward_types)
        tallies: Counter[tuple[str, str, str]] = Counter()
        outcomes: list[BanditOutcome] = []
        for e in sorted(events, key=lambda e: (e.ts, e.event_id)):
            decision = decision_of(e)
            rewarding = EventType(e.type).value in reward_types and e.request_id and e.item_id
            if decision is None and not rewarding:
                continue  # most events (impressions of ranked slots) are neither
            key = {"request_id": e.request_id, "user_id": e.user_id, "item_id": e.item_id}
            where = sa.and_(*(decisions.c[k] == v for k, v in key.items()))
            if decision is not None:
                policy, arm = decision
                row = {**key, "policy": policy, "arm": arm, "recorded_at": at, "rewarded": False}
                inserted = conn.execute(
                    self._insert(decisions).on_conflict_do_nothing().returning(decisions.c.arm),
                    [row],
                ).first()
                if inserted is None:
                    continue  # a second impression for the same slot: one decision only
                tallies[policy, arm, "pulls"] += 1
                outcomes.append((policy, arm, 0.0))
                waiting = sa.and_(*(pending.c[k] == v for k, v in key.items()))
                if conn.execute(sa.delete(pending).where(waiting)).rowcount:
                    conn.execute(sa.update(decisions).where(where).values(rewarded=True))
                    tallies[policy, arm, "rewards"] += 1
                    outcomes.append((policy, arm, 1.0))
            else:
                found = conn.execute(
                    sa.select(decisions.c.policy, decisions.c.arm, decisions.c.rewarded).where(
                        where
                    )
                ).first()
                if found is None:
                    conn.execute(
                        self._insert(pending).on_conflict_do_nothing(), [{**key, "recorded_at": at}]
                    )
                elif not found.rewarded:
                    conn.execute(sa.update(decisions).where(where).values(rewarded=True))
                    tallies[found.policy, found.arm, "rewards"] += 1
                    outcomes.append((found.policy, found.arm, 1.0))
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for (policy, arm, field), n in tallies.items():
            tally = rows.setdefault(
                (policy, arm), {"policy": policy, "arm": arm, "pulls": 0, "rewards": 0}
            )
            tally[field] += n
        self._bump(conn, self._t["bandits"], list(rows.values()))
        return outcomes

    def item_stats(self, item_id: str) -> dict[str, int]:
        """Event count per type for one item (empty when never seen)."""
        return self._counts(self._t["items"], "item_id", item_id)

    def creator_stats(self, creator_id: str) -> dict[str, int]:
        """Event count per type for one creator's items and the creator itself."""
        return self._counts(self._t["creators"], "creator_id", creator_id)

    def _counts(self, table: sa.Table, column: str, key: str) -> dict[str, int]:
        query = sa.select(table.c.type, table.c.n).where(table.c[column] == key)
        with self.engine.connect() as conn:
            return {row.type: int(row.n) for row in conn.execute(query).all()}

    def trending(self, k: int, now: float | None = None) -> list[tuple[str, float]]:
        """The ``k`` items with the highest decayed score at ``now``, best first.

        Args:
            k: how many items.
            now: reading time (default: the clock); scores of later events are not discounted
                into the future, they are reported as of ``now`` (which may exceed them).

        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        at = time.time() if now is None else float(now)
        table = self._t["trending"]
        query = (
            sa.select(table.c.item_id, table.c.score, table.c.ts)
            .order_by(table.c.rank_key.desc(), table.c.item_id)
            .limit(k)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        h = self.config.half_life_s
        return [(r.item_id, r.score * 2.0 ** (-(at - r.ts) / h)) for r in rows]

    def bandit_tallies(self, policy: str | None = None) -> list[ArmTally]:
        """Pulls and rewards per ``(policy, arm)``, sorted; only ``policy`` when given."""
        table = self._t["bandits"]
        query = sa.select(table).order_by(table.c.policy, table.c.arm)
        if policy is not None:
            query = query.where(table.c.policy == policy)
        with self.engine.connect() as conn:
            return [
                ArmTally(r.policy, r.arm, int(r.pulls), int(r.rewards))
                for r in conn.execute(query).all()
            ]

    def delete_user(self, user_id: str) -> int:
        """Erase the rows that name ``user_id`` (decisions, pending clicks); returns how many.

        Counters and trending scores are aggregates without user ids and stay.
        """
        with self._lock, self.engine.begin() as conn:
            removed = 0
            for name in ("decisions", "pending"):
                table = self._t[name]
                removed += conn.execute(sa.delete(table).where(table.c.user_id == user_id)).rowcount
        return int(removed)

    def prune(self, older_than: float) -> int:
        """Drop processed ids, decisions and pending clicks recorded before ``older_than``.

        Times are processing times (``apply``'s ``now``), in seconds since the epoch.

        Returns:
            How many rows were removed. Events redelivered after their id was pruned would count
            again: keep the retention well above the longest outbox or stream delay.

        """
        t = self._t
        with self._lock, self.engine.begin() as conn:
            removed = conn.execute(
                sa.delete(t["processed"]).where(t["processed"].c.processed_at < older_than)
            ).rowcount
            for name in ("decisions", "pending"):
                table = t[name]
                removed += conn.execute(
                    sa.delete(table).where(table.c.recorded_at < older_than)
                ).rowcount
        return int(removed)

    def drop_tables(self) -> None:
        """Remove every table of this prefix (tests and ``reset`` tooling)."""
        self._metadata.drop_all(self.engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
