"""Curated recall: pools of items chosen by operations, for a time window and target segments.

Operations run campaigns, editorial picks and launches as :class:`~ecorec.core.entities.
CuratedPool` rows in the Catalog: items, ``starts_at``/``ends_at`` (``None``: open-ended),
target ``segments`` (empty: everyone) and an optional ``position_hint`` for the curated
re-ranker. A pool is served to a request when ``starts_at <= request.ts < ends_at`` and the
user's segment is targeted; the segment is ``request.context["segment"]``, else the segment of
the user entity seen at training.

Pools are read from the Catalog at training **and** by :meth:`CuratedRecall.refresh`, because
operations edit pools while the service runs and must not wait for a retrain: the serving
process calls ``refresh(catalog)`` on its schedule (or when notified) and the next request sees
the new pools. Each pool is validated on load — an unknown item, a window that ends before it
starts, or a negative position hint skips the whole pool with a warning naming it; nothing in
a bad pool can fail a request. Deleted items are dropped from a pool (merge would drop them).

Candidates keep the pools' order (pools with a position hint first, by hint; then the newest
pool first; items in the order operations listed them) and carry ``curated:<pool_id>`` and
``position_hint:<k>`` reasons. Not personalised: for a user who withdrew personalisation
consent only a segment stated in the request targets pools (the account's segment is not read).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import CuratedPool, Item
from ecorec.core.profile import Consent, Profile
from ecorec.data.protocols import Catalog
from ecorec.data.training import TrainingData
from ecorec.recall.metadata import SegmentTable, has_interactions, user_segments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pool:
    """A validated pool, as served (deleted items already dropped)."""

    pool_id: str
    item_ids: tuple[str, ...]
    starts_at: float
    ends_at: float | None
    segments: tuple[str, ...]
    position_hint: int | None

    def active(self, ts: float, segment: str | None) -> bool:
        """Inside its window at ``ts`` and targeting ``segment`` (or everyone)."""
        in_window = self.starts_at <= ts and (self.ends_at is None or ts < self.ends_at)
        return in_window and (not self.segments or segment in self.segments)


class CuratedConfig(ComponentConfig):
    """Parameters of :class:`CuratedRecall`.

    Attributes:
        n: candidates per request.
        exclude_seen: skip items the user already consumed.

    """

    n: int = Field(50, gt=0)
    exclude_seen: bool = True


class CuratedRecall(Component):
    """Items of the operations pools that are live for this request's time and segment.

    Example:
        >>> from ecorec.core.entities import CuratedPool, Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Item("a"), CuratedPool("launch", "Launch", ("a",), starts_at=10.0,
        ...                                     position_hint=0)])
        2
        >>> curated = CuratedRecall()
        >>> curated.train(TrainingData(catalog=catalog))
        >>> curated(Request("u", ts=5.0), Profile("u"))
        []
        >>> [(c.item_id, c.reasons) for c in curated(Request("u", ts=20.0), Profile("u"))]
        [('a', ['curated:launch', 'position_hint:0'])]

    """

    name = "curated"
    personalized = False
    Config = CuratedConfig
    config: CuratedConfig

    def __init__(self, config: CuratedConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.pools: list[Pool] | None = None
        self.segments = SegmentTable()

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Read and validate the pools, and learn each user's segment."""
        if data.catalog is None:
            if not has_interactions(data):
                raise ValueError(
                    "curated: no catalog to read pools from and no interactions: "
                    "the dataset is empty"
                )
            log.warning("curated: training data has no catalog; no pools until refresh()")
            self.pools = []
        else:
            self.refresh(data.catalog)
        self.segments = SegmentTable(user_segments(data))

    def refresh(self, catalog: Catalog) -> int:
        """Re-read the pools from ``catalog`` (operations edit them without a retrain).

        Returns:
            How many valid pools are now loaded (skipped pools are logged).

        """
        raw: list[CuratedPool] = list(catalog.scan(CuratedPool))
        wanted = sorted({i for pool in raw for i in pool.item_ids})
        items: dict[str, Item] = catalog.get(Item, wanted) if wanted else {}
        pools = [p for p in (_validate(pool, items) for pool in raw) if p is not None]
        pools.sort(
            key=lambda p: (
                p.position_hint is None,
                p.position_hint or 0,
                -p.starts_at,
                p.pool_id,
            )
        )
        self.pools = pools
        return len(pools)

    def is_trained(self) -> bool:
        return self.pools is not None

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.pools is None:
            raise NotTrainedError(self)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        user = request.user_id if profile.allows(Consent.PERSONALIZATION) else ""
        segment = self.segments.segment_of(user, request.context)
        n, out, taken = self.config.n, list[Candidate](), set[str]()
        for pool in self.pools:
            if len(out) >= n:
                break
            if not pool.active(request.ts, segment):
                continue
            reasons = [f"curated:{pool.pool_id}"]
            if pool.position_hint is not None:
                reasons.append(f"position_hint:{pool.position_hint}")
            for item_id in pool.item_ids:
                if len(out) >= n:
                    break
                if item_id in skip or item_id in taken:
                    continue
                taken.add(item_id)
                out.append(Candidate(item_id, float(n - len(out)) / n, self.name, reasons=reasons))
        return out

    def save(self, folder: Path) -> dict[str, Any]:
        if self.pools is None:
            raise NotTrainedError(self)
        (folder / "pools.json").write_text(json.dumps([asdict(p) for p in self.pools]))
        self.segments.save(folder)
        metrics = {"pools": len(self.pools), "items": sum(len(p.item_ids) for p in self.pools)}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        rows = json.loads((folder / "pools.json").read_text())
        self.segments = SegmentTable.load(folder)
        self.pools = [
            Pool(
                r["pool_id"],
                tuple(r["item_ids"]),
                float(r["starts_at"]),
                None if r["ends_at"] is None else float(r["ends_at"]),
                tuple(r["segments"]),
                r["position_hint"],
            )
            for r in rows
        ]


def _validate(pool: CuratedPool, items: dict[str, Item]) -> Pool | None:
    """The servable form of ``pool``, or None (with a warning) when it is invalid."""
    unknown = [i for i in pool.item_ids if i not in items]
    problem = None
    if unknown:
        problem = f"unknown item(s) {', '.join(unknown[:5])}"
    elif pool.ends_at is not None and pool.ends_at <= pool.starts_at:
        problem = f"window ends ({pool.ends_at}) at or before it starts ({pool.starts_at})"
    elif pool.position_hint is not None and pool.position_hint < 0:
        problem = f"negative position hint {pool.position_hint}"
    if problem is not None:
        log.warning("curated: skipping pool %r: %s", pool.pool_id, problem)
        return None
    live = tuple(dict.fromkeys(i for i in pool.item_ids if not items[i].deleted))
    return Pool(
        pool.pool_id,
        live,
        float(pool.starts_at),
        None if pool.ends_at is None else float(pool.ends_at),
        tuple(pool.segments),
        pool.position_hint,
    )
