"""The catalog of a synthetic platform as the entity dataclasses of :mod:`ecorec.core.entities`.

Entities come in lists of at most ``block`` so that a 1M-user, 1M-item platform is written
without holding a million dataclasses at once; the latents behind them are the ones the
history uses (:mod:`.latents`), so the catalog and the events agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ecorec.core.entities import Ad, Advertiser, BidType, Creator, CreatorStage, Entity, Item, User
from ecorec.data.synthetic.ids import id_formats
from ecorec.data.synthetic.latents import (
    UserBlock,
    make_ads,
    make_creators,
    make_items,
    make_user_block,
)
from ecorec.data.synthetic.spec import PlatformSpec

_STAGES = (CreatorStage.NOVICE, CreatorStage.MID, CreatorStage.HEAD)
_BID_TYPES = (BidType.CPC, BidType.CPM, BidType.OCPM)
#: Activity (sessions/day) below which an established user is "casual", then "regular".
SEGMENT_BOUNDS = (0.3, 1.0)


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    """Round in float64 so float32 latents print as 0.7842, not 0.7842000126838684."""
    return np.round(values.astype(np.float64), digits).tolist()  # type: ignore[no-any-return]


def _segments(spec: PlatformSpec, users: UserBlock) -> list[str]:
    names = np.array(["casual", "regular", "heavy"])
    segment = names[np.searchsorted(SEGMENT_BOUNDS, users.activity, side="right")]
    labels: list[str] = np.where(users.created_at >= spec.start_ts, "new", segment).tolist()
    return labels


def iter_users(spec: PlatformSpec) -> Iterator[list[User]]:
    """Users, one list per user block.

    ``attrs["interests"]`` holds the user's top three topics (strongest first),
    ``attrs["consent"]`` the ``personalization``, ``ads`` and ``analytics`` flags and
    ``attrs["payer"]`` whether the user ever tips or subscribes.
    """
    fmt = id_formats(spec)["user"]
    topics = np.array(spec.topics)
    groups, regions = list(spec.population.groups), list(spec.population.regions)
    for block in range(spec.user_blocks):
        users = make_user_block(spec, block)
        top = topics[np.argsort(-users.interests, axis=1, kind="stable")[:, :3]].tolist()
        consent = users.consent.tolist()
        rows = zip(
            range(users.first, users.first + len(users)),
            users.created_at.tolist(),
            _segments(spec, users),
            users.region.tolist(),
            users.group.tolist(),
            np.round(users.activity, 4).tolist(),
            top,
            consent,
            users.payer.tolist(),
            strict=True,
        )
        yield [
            User(
                fmt.one(i),
                created_at=created,
                segment=segment,
                region=regions[region],
                group=groups[group],
                activity=activity,
                attrs={
                    "interests": interests,
                    "consent": {"personalization": c[0], "ads": c[1], "analytics": c[2]},
                    "payer": payer,
                },
            )
            for i, created, segment, region, group, activity, interests, c, payer in rows
        ]


def iter_creators(spec: PlatformSpec, block: int = 10_000) -> Iterator[list[Creator]]:
    """Creators in lists of at most ``block``; ``output_rate`` is items per day."""
    fmt = id_formats(spec)["creator"]
    c = make_creators(spec)
    for lo in range(0, spec.creators, block):
        hi = min(lo + block, spec.creators)
        rows = zip(
            range(lo, hi),
            c.stage[lo:hi].tolist(),
            _rounded(c.quality[lo:hi], 4),
            c.focus[lo:hi].tolist(),
            np.round(c.output_rate[lo:hi], 4).tolist(),
            c.created_at[lo:hi].tolist(),
            strict=True,
        )
        yield [
            Creator(
                fmt.one(i),
                stage=_STAGES[stage],
                quality=quality,
                category=spec.topics[focus],
                output_rate=rate,
                created_at=created,
            )
            for i, stage, quality, focus, rate, created in rows
        ]


def iter_items(spec: PlatformSpec, block: int = 10_000) -> Iterator[list[Item]]:
    """Items in lists of at most ``block``, in creation order.

    ``category`` is the main topic, ``tags`` the other topics of the mixture, and
    ``attrs["topics"]`` the mixture itself (topic -> weight).
    """
    formats = id_formats(spec)
    item_id, creator_id = formats["item"], formats["creator"]
    items = make_items(spec, make_creators(spec))
    names = spec.topics
    for lo in range(0, spec.items, block):
        hi = min(lo + block, spec.items)
        rows = zip(
            range(lo, hi),
            items.creator[lo:hi].tolist(),
            items.topics[lo:hi].tolist(),
            _rounded(items.weights[lo:hi], 3),
            _rounded(items.quality[lo:hi], 4),
            _rounded(items.duration[lo:hi], 1),
            items.created_at[lo:hi].tolist(),
            strict=True,
        )
        batch = []
        for i, creator, topics, weights, quality, duration, created in rows:
            mixture: dict[str, float] = {}
            for topic, weight in zip(topics, weights, strict=True):
                mixture[names[topic]] = round(mixture.get(names[topic], 0.0) + weight, 3)
            tags = tuple(dict.fromkeys(names[t] for t in topics[1:] if t != topics[0]))
            batch.append(
                Item(
                    item_id.one(i),
                    creator_id=creator_id.one(creator),
                    category=names[topics[0]],
                    tags=tags,
                    quality=quality,
                    duration=duration,
                    created_at=created,
                    attrs={"topics": mixture},
                )
            )
        yield batch


def advertisers_and_ads(spec: PlatformSpec) -> tuple[list[Advertiser], list[Ad]]:
    """Every advertiser and ad (a few hundred at most on any sensible platform)."""
    formats = id_formats(spec)
    a = make_ads(spec)
    advertisers = [
        Advertiser(
            formats["advertiser"].one(i),
            name=f"Advertiser {i}",
            daily_budget=budget,
            target_cpa=cpa,
            attrs={"category": spec.topics[topic]},
        )
        for i, (budget, cpa, topic) in enumerate(
            zip(a.budget.tolist(), a.target_cpa.tolist(), a.category.tolist(), strict=True)
        )
    ]
    ads = [
        Ad(
            formats["ad"].one(j),
            advertiser_id=advertisers[owner].advertiser_id,
            bid_type=_BID_TYPES[kind],
            bid=bid,
            target_cpa=advertisers[owner].target_cpa,
            category=spec.topics[a.category[owner]],
            landing_quality=round(landing, 4),
            true_ctr=round(ctr, 6),
            true_cvr=round(cvr, 6),
        )
        for j, (owner, kind, bid, landing, ctr, cvr) in enumerate(
            zip(
                a.advertiser.tolist(),
                a.bid_type.tolist(),
                a.bid.tolist(),
                a.landing_quality.tolist(),
                a.true_ctr.tolist(),
                a.true_cvr.tolist(),
                strict=True,
            )
        )
    ]
    return advertisers, ads


def iter_entities(spec: PlatformSpec, block: int = 10_000) -> Iterator[Sequence[Entity]]:
    """Every catalog entity in blocks: users, creators, items, then advertisers and ads."""
    yield from iter_users(spec)
    yield from iter_creators(spec, block)
    yield from iter_items(spec, block)
    advertisers, ads = advertisers_and_ads(spec)
    for lo in range(0, len(advertisers), block):
        yield advertisers[lo : lo + block]
    for lo in range(0, len(ads), block):
        yield ads[lo : lo + block]
