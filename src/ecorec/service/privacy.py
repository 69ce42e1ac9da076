"""Right of access and right to erasure: export a user's data, erase it, and keep it erased.

The HTTP routes (``GET /v1/users/{id}/export``, ``DELETE /v1/users/{id}``) and the events route
only call the functions here, so the same rules hold for the CLI and batch jobs.

What :func:`erase_user` covers, per store:

- **deletion log** (:class:`DeletionLog`): written *first*, so a crash half way still blocks
  late events and re-imports (:func:`reject_deleted`) and a retry finishes the job;
- **events**: every row of the user in the EventLog (SQLite zeroes the freed pages);
- **profile**: recent items, seen set, negatives, blocked creators, interests, consent;
- **catalog**: the :class:`~ecorec.core.entities.User` row (segment, region, group, attrs).

What it does not touch, and why. Saved model versions are immutable, hash-checked folders in the
registry; rewriting them per erasure would break their manifests. ALS and item-CF keep no
per-user state: the user side is folded in at request time from the (now empty) profile. Some
models do keep a row per user until the next retrain: LightGCN (``user_ids.npy`` +
``user_vectors.npy``), user-CF (``user_ids.npy`` + ``user_items.npz``), the two-tower user-id
vocabulary (``users_ids.npy``, an embedding row in its weights) and the metadata channel's
segments (``segments_users.npy``). :func:`erase_user` names the active versions that hold the
user under ``retained_until_retrain`` (model names only, no ids); retraining on the erased log
removes them. Item-side parameters learnt partly from the user's events (item factors,
popularity counts, bandit arm statistics: bandit state is keyed by arm, never by user) are
aggregates and also change only at the next retrain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import TracebackType
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ecorec.core.entities import User
from ecorec.core.events import MONEY_TYPES, Event, EventType
from ecorec.core.profile import Profile
from ecorec.data.catalog.sql import create_catalog_engine
from ecorec.data.nearline import NearlineStats
from ecorec.data.registry import ModelIntegrityError, ModelNotFoundError
from ecorec.data.stores import Stores, models_root

#: Model files listing the users a saved model keeps a row for (numpy arrays of ids):
#: LightGCN and user-CF ``user_ids.npy``, two-tower ``users_ids.npy`` (its user vocabulary),
#: the metadata channel's ``segments_users.npy``.
USER_IDS_SUFFIXES = ("user_ids.npy", "users_ids.npy", "_users.npy")
#: The per-user embeddings stored beside ``user_ids.npy`` (LightGCN), row-aligned.
USER_VECTORS_FILE = "user_vectors.npy"
#: Ids per ``IN (...)`` clause, well under SQLite's bound-parameter limit.
_CHUNK = 900
#: How far before the newest erasure seen :meth:`DeletionLog.is_deleted`'s update reads again.
_SYNC_MARGIN_S = 60.0


class DeletionLog:
    """Durable record of erased users, kept as salted hashes in the main database.

    Two tables are created on first use: ``deletion_log`` (``user_hash`` primary key,
    ``deleted_at``) and ``deletion_log_salt`` (one random 32-byte salt per database). A user id
    is stored as ``HMAC-SHA256(salt, user_id)``.

    Trade-off: the log must answer :meth:`is_deleted` for an id it is given, so the hash is a
    deterministic function of the id and anyone who can read both tables can *confirm* that a
    guessed id was erased (the data is pseudonymised, not anonymous). What the hash buys: the
    log lists no ids, a leaked log alone cannot be reversed by precomputed tables, and hashes
    of two installations cannot be joined. Keeping the salt outside the database would be
    stronger, but losing it would silently unblock every erased user; we chose durability.

    :meth:`is_deleted` runs on every recommendation, so it answers from memory: the set of
    every erased hash, read whole at first use and then brought up to date at most once per
    ``cache_seconds`` (the rows since the newest one seen, then a row count that triggers a
    full re-read if anything is still missing, e.g. a row another process dated in the past).
    One query per process per ``cache_seconds`` replaces one per request for every user not
    asked about lately (~0.7 ms of the request's GIL at 1M items); memory is ~150 bytes per
    erased user. An erasure recorded here counts at once; one recorded by another process on
    the same database within ``cache_seconds``. :meth:`deleted_among`, which guards writes
    (late events, re-imports), always asks the database.

    Args:
        database_url: ``config.storage.database_url`` (``sqlite:///...`` or ``postgresql://``).
        cache_seconds: how long the in-memory set is trusted without asking the database again.
        clock: monotonic seconds (tests step it).

    Example:
        >>> log = DeletionLog("sqlite:///ecorec.db")  # doctest: +SKIP
        >>> log.record("u1", at=1.7e9)  # doctest: +SKIP
        >>> log.is_deleted("u1")  # doctest: +SKIP
        True

    """

    def __init__(
        self,
        database_url: str,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = create_catalog_engine(database_url)
        self.cache_seconds, self.clock = cache_seconds, clock
        self._erased: set[str] = set()  # ids asked about and found erased: erasure is final
        self._hashes: frozenset[str] = frozenset()  # every erased hash, as of ``_synced``
        self._newest: float | None = None  # the latest ``deleted_at`` among them
        self._synced = -math.inf
        self._sync_lock = threading.Lock()
        metadata = sa.MetaData()
        self._log = sa.Table(
            "deletion_log",
            metadata,
            sa.Column("user_hash", sa.String(64), primary_key=True),
            sa.Column("deleted_at", sa.Float, nullable=False, index=True),
        )
        self._salt_table = sa.Table(
            "deletion_log_salt",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("salt", sa.String(64), nullable=False),
        )
        try:
            metadata.create_all(self.engine)
        except sa.exc.DBAPIError:
            # Two processes creating the tables at once: the loser sees them on a second look.
            metadata.create_all(self.engine)
        self._salt = self._load_salt()

    def _insert(self, table: sa.Table) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    def _load_salt(self) -> bytes:
        # Insert-if-absent then read back, so concurrent first opens agree on one salt.
        with self.engine.begin() as conn:
            conn.execute(self._insert(self._salt_table), {"id": 1, "salt": secrets.token_hex(32)})
            salt = conn.execute(
                sa.select(self._salt_table.c.salt).where(self._salt_table.c.id == 1)
            ).scalar_one()
        return bytes.fromhex(salt)

    def hash(self, user_id: str) -> str:
        """The hex digest the log stores for ``user_id`` (what :meth:`deleted_since` returns)."""
        return hmac.new(self._salt, user_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def record(self, user_id: str, at: float) -> None:
        """Log ``user_id`` as erased at ``at``; recording it again keeps the first time."""
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(self._log), {"user_hash": self.hash(user_id), "deleted_at": at}
            )
        self._erased.add(user_id)

    def is_deleted(self, user_id: str) -> bool:
        """Whether ``user_id`` was ever erased (from memory; see the class docstring)."""
        if user_id in self._erased:
            return True
        if self.clock() - self._synced >= self.cache_seconds:
            self._sync()
        if self.hash(user_id) in self._hashes:
            self._erased.add(user_id)
            return True
        return False

    def _sync(self) -> None:
        """Bring :attr:`_hashes` up to date with the table (one thread at a time)."""
        with self._sync_lock:
            now = self.clock()
            if now - self._synced < self.cache_seconds:  # another thread just did
                return
            log = self._log
            rows = sa.select(log.c.user_hash, log.c.deleted_at)
            if self._newest is not None:  # a margin for clocks that differ a little
                rows = rows.where(log.c.deleted_at >= self._newest - _SYNC_MARGIN_S)
            with self.engine.connect() as conn:
                found = conn.execute(rows).all()
                new = {h for h, _ in found}.difference(self._hashes)
                hashes = self._hashes.union(new) if new else self._hashes
                # rows are never removed, so an equal count means no row is missing; counted
                # after the read, a row written in between makes it differ (a re-read, not a miss)
                count = conn.execute(sa.select(sa.func.count()).select_from(log)).scalar_one()
                if count != len(hashes):
                    found = conn.execute(sa.select(log.c.user_hash, log.c.deleted_at)).all()
                    hashes = frozenset(h for h, _ in found)
            newest = max((at for _, at in found), default=None)
            if newest is not None and (self._newest is None or newest > self._newest):
                self._newest = newest
            self._hashes, self._synced = hashes, now

    def deleted_among(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that were erased, in one query per 900 distinct ids."""
        by_hash = {self.hash(user_id): user_id for user_id in set(user_ids)}
        hashes = list(by_hash)
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), _CHUNK):
                chunk = hashes[start : start + _CHUNK]
                query = sa.select(self._log.c.user_hash).where(self._log.c.user_hash.in_(chunk))
                found.update(by_hash[h] for h in conn.execute(query).scalars())
        return found

    def deleted_since(self, ts: float) -> list[str]:
        """Hashes (see :meth:`hash`) of users erased at or after ``ts``, oldest first.

        A retraining job compares them with ``log.hash(user_id)`` of its users: the log never
        held the ids, so it cannot give them back.
        """
        query = (
            sa.select(self._log.c.user_hash)
            .where(self._log.c.deleted_at >= ts)
            .order_by(self._log.c.deleted_at, self._log.c.user_hash)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def close(self) -> None:
        """Release the connection pool; calling it twice is harmless."""
        self.engine.dispose()

    def __enter__(self) -> DeletionLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def reject_deleted(events: Iterable[Event], log: DeletionLog) -> tuple[list[Event], list[Event]]:
    """Split ``events`` into ``(kept, dropped)``: dropped are those of erased users.

    Run before writing a batch, so late events and re-imports cannot bring an erased user back.
    Order within each list follows the input.
    """
    batch = list(events)
    erased = log.deleted_among(event.user_id for event in batch)
    kept = [event for event in batch if event.user_id not in erased]
    dropped = [event for event in batch if event.user_id in erased]
    return kept, dropped


# --- export ------------------------------------------------------------------------------


def _money(value: float) -> str:
    # DESIGN.md §3: money travels as a decimal string; repr is the shortest exact round trip.
    return format(Decimal(repr(value)), "f")


def _event_json(event: Event) -> dict[str, Any]:
    row = dataclasses.asdict(event)
    kind = EventType(event.type)
    row["type"] = kind.value
    if event.value is not None and kind in MONEY_TYPES:
        row["value"] = _money(event.value)
    return row


def _profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "recent": [{"item_id": item_id, "ts": ts} for item_id, ts in profile.recent],
        "seen": sorted(profile.seen),
        "negatives": sorted(profile.negatives),
        "blocked_creators": sorted(profile.blocked_creators),
        "interests": dict(sorted(profile.interests.items())),
        "consent": dict(sorted(profile.consent.items())),
    }


def _model_rows(stores: Stores, user_id: str) -> list[dict[str, Any]]:
    """Per-user rows in the active model versions: model, version, file, and the vector if any."""
    if not models_root(stores.config).is_dir():
        return []  # never create the model folder as a side effect of a privacy request
    registry = stores.registry
    found: list[dict[str, Any]] = []
    for name in registry.names():
        version = registry.active(name)
        if version is None:
            continue
        files = registry.manifest(name, version).get("files", {})
        listings = [f for f in files if f.rsplit("/", 1)[-1].endswith(USER_IDS_SUFFIXES)]
        if not listings:
            continue
        try:
            folder = registry.open(name, version)  # checks the hashes before trusting the arrays
        except (ModelIntegrityError, ModelNotFoundError):
            # Cannot tell whether it holds the user: say so rather than claim it does not.
            found.append({"model": name, "version": version, "file": None, "unreadable": True})
            continue
        for listing in sorted(listings):
            user_ids = np.load(folder / listing, allow_pickle=False)
            rows = np.flatnonzero(user_ids.astype(str) == user_id)
            if not len(rows):
                continue
            entry: dict[str, Any] = {"model": name, "version": version, "file": listing}
            vectors = listing.removesuffix("user_ids.npy") + USER_VECTORS_FILE
            if listing.rsplit("/", 1)[-1] == "user_ids.npy" and vectors in files:
                matrix = np.load(folder / vectors, allow_pickle=False, mmap_mode="r")
                entry["vector"] = [float(x) for x in np.asarray(matrix[int(rows[0])])]
            found.append(entry)
    return found


def export_user(stores: Stores, user_id: str) -> dict[str, Any]:
    """Everything ecorec holds about ``user_id``, JSON-ready (the right of access).

    Returns:
        ``{"user_id", "user", "events", "profile", "models", "sources"}``: the catalog row
        (None when absent), every event oldest first (money as decimal strings), the online
        profile, the per-user rows of active models (LightGCN vectors, user-CF rows), and the
        stores that were searched.

    """
    users = stores.catalog.get(User, [user_id])
    row = users.get(user_id)
    return {
        "user_id": user_id,
        "user": dataclasses.asdict(row) if row is not None else None,
        "events": [_event_json(e) for e in stores.events.scan(user_id=user_id)],
        "profile": _profile_json(stores.profiles.get(user_id)),
        "models": _model_rows(stores, user_id),
        "sources": ["catalog", "events", "profiles", "models"],
    }


# --- erasure -----------------------------------------------------------------------------


def erase_user(
    stores: Stores,
    user_id: str,
    log: DeletionLog,
    now: float | None = None,
    nearline: NearlineStats | None = None,
) -> dict[str, Any]:
    """Erase ``user_id`` from events, profile, catalog and nearline state; return a receipt.

    The receipt holds no personal data, not even the user's id.

    The deletion log is written before anything is deleted: if a step fails, the user is
    already blocked from coming back and calling this again finishes the erasure (every step
    is idempotent).

    Returns:
        ``{"receipt_id", "erased_at", "counts": {"events", "profile", "user"[, "nearline"]},
        "stores", "retained_until_retrain"}``; the last lists ``model@version`` of active
        models that still hold a row for the user (see the module docstring).

    """
    erased_at = time.time() if now is None else now
    log.record(user_id, erased_at)
    n_events = stores.events.delete_user(user_id)
    had_profile = stores.profiles.get(user_id) != Profile(user_id)
    stores.profiles.delete(user_id)
    n_users = stores.catalog.delete(User, [user_id])
    counts = {"events": n_events, "profile": int(had_profile), "user": n_users}
    erased = ["deletion_log", "events", "profiles", "catalog"]
    if nearline is not None:  # bandit decisions and clicks waiting for them carry user ids
        counts["nearline"] = nearline.delete_user(user_id)
        erased.append("nearline")
    # Last, so a broken model folder cannot stop the data itself from being erased.
    retained = sorted({f"{row['model']}@{row['version']}" for row in _model_rows(stores, user_id)})
    return {
        "receipt_id": uuid.uuid4().hex,
        "erased_at": erased_at,
        "counts": counts,
        "stores": erased,
        "retained_until_retrain": retained,
    }


__all__ = ["DeletionLog", "erase_user", "export_user", "reject_deleted"]
