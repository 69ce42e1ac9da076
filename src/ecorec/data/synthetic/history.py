"""The event history of a synthetic platform, streamed as Arrow tables day by day, block by block.

Memory stays bounded by one block-day: the catalog latents (a few arrays per item, creator and
ad), one user block, the per-user churn flag and the set of blocked (user, creator) pairs are
all that lives across steps. Each block-day draws from its own generator keyed by
``(seed, day, block)``, so the history depends on the spec alone, not on ``chunk_size``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa

from ecorec.data.synthetic.columns import EventColumns
from ecorec.data.synthetic.ids import IdFormat, id_formats
from ecorec.data.synthetic.latents import (
    Ads,
    Creators,
    Items,
    Stream,
    UserBlock,
    make_ads,
    make_creators,
    make_items,
    make_user_block,
    stream,
)
from ecorec.data.synthetic.policy import TopicSampler, item_sampler
from ecorec.data.synthetic.response import advertising, extra_templates, organic
from ecorec.data.synthetic.sessions import Slots, draw_requests, draw_slates
from ecorec.data.synthetic.spec import PlatformSpec


@dataclass(slots=True)
class _State:
    """What carries over between block-days: who churned, who blocked whom."""

    alive: np.ndarray
    n_creators: int
    blocked: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def block(self, user: np.ndarray, creator: np.ndarray) -> None:
        keys = user.astype(np.int64) * self.n_creators + creator
        self.blocked = np.union1d(self.blocked, keys)

    def visible(self, user: np.ndarray, creator: np.ndarray) -> np.ndarray:
        """Mask of (user, creator) pairs not blocked so far."""
        if len(self.blocked) == 0:
            return np.ones(len(user), dtype=bool)
        keys = user.astype(np.int64) * self.n_creators + creator
        at = np.minimum(np.searchsorted(self.blocked, keys), len(self.blocked) - 1)
        visible: np.ndarray = self.blocked[at] != keys
        return visible


@dataclass(frozen=True, slots=True)
class _Catalog:
    creators: Creators
    items: Items
    ads: Ads
    ad_sampler: TopicSampler | None


def iter_event_tables(spec: PlatformSpec) -> Iterator[pa.Table]:
    """Generate the platform's event history as tables of at most ``spec.chunk_size`` rows.

    Tables come day by day and, within a day, user block by user block; each table is sorted
    by ``ts``. The same spec always yields the same rows in the same order, whatever
    ``chunk_size`` is.

    Example:
        >>> spec = PlatformSpec(users=50, items=100, creators=5, advertisers=1, days=2)
        >>> sum(t.num_rows for t in iter_event_tables(spec)) > 0
        True

    """
    for table in iter_block_days(spec):
        for start in range(0, table.num_rows, spec.chunk_size):
            yield table.slice(start, spec.chunk_size)


def iter_block_days(spec: PlatformSpec) -> Iterator[pa.Table]:
    """Generate the history as one table per (day, user block): ``days * user_blocks`` tables.

    Tables may exceed ``chunk_size``; :func:`iter_event_tables` slices them.
    """
    creators = make_creators(spec)
    items = make_items(spec, creators)
    ads = make_ads(spec)
    ad_sampler = None
    if spec.ads:
        ad_sampler = TopicSampler(ads.ecpm, ads.category[ads.advertiser], len(spec.topics))
    catalog = _Catalog(creators, items, ads, ad_sampler)
    state = _State(np.ones(spec.users, dtype=bool), spec.creators)
    formats = id_formats(spec)
    for day in range(spec.days):
        sampler = item_sampler(spec, items, day)
        for block in range(spec.user_blocks):
            users = make_user_block(spec, block)
            yield _block_day(spec, catalog, sampler, users, state, formats, day, block)


def _block_day(
    spec: PlatformSpec,
    catalog: _Catalog,
    sampler: TopicSampler,
    users: UserBlock,
    state: _State,
    formats: dict[str, IdFormat],
    day: int,
    block: int,
) -> pa.Table:
    rng = stream(spec, Stream.EVENTS, day, block)
    alive = state.alive[users.first : users.first + len(users)]
    requests = draw_requests(spec, users, alive, day, rng)
    slots = draw_slates(spec, requests, users, sampler, rng)
    slots = _unblocked(slots, state, users.first + requests.user[slots.request], catalog.items)
    out = EventColumns()
    stage = catalog.creators.stage
    feedback = organic(spec, out, requests, slots, users, catalog.items, stage, rng)
    if catalog.ad_sampler is not None:
        advertising(spec, out, requests, users, catalog.ads, catalog.ad_sampler, rng)
    state.block(feedback.blocked_user, feedback.blocked_creator)
    served = np.bincount(requests.user, minlength=len(users)) > 0
    churn = rng.random(len(users)) < spec.response.churn_rate * (1.0 - feedback.satisfaction)
    alive &= ~(served & churn)
    tag = f"{spec.seed}-{day:04d}-{block:04d}-"
    n_events = sum(len(part["ts"]) for part in out.parts)
    templates = extra_templates(f"o{tag}", max(6, len(str(n_events))))
    return out.table(f"g{tag}", f"r{tag}", formats, templates)


def _unblocked(slots: Slots, state: _State, user: np.ndarray, items: Items) -> Slots:
    """Drop slots whose creator the user blocked on an earlier day."""
    keep = state.visible(user, items.creator[slots.item])
    if keep.all():
        return slots
    return Slots(*(getattr(slots, f.name)[keep] for f in fields(Slots)))
