"""The latent state of a synthetic platform as numpy arrays, one array per attribute.

Both the catalog (:mod:`.population`) and the history (:mod:`.history`) read these arrays, so
the interests that drive clicks are exactly the ones written to the catalog. Each population
draws from its own generator keyed by ``(seed, kind[, block])``: a user block can be rebuilt
on its own, which is how the history visits 1M users without holding them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ecorec.data.synthetic.spec import PlatformSpec

DAY = 86_400.0


class Stream(IntEnum):
    """Keys of the independent random streams, one per population and one for events."""

    CREATORS = 1
    ITEMS = 2
    ADS = 3
    USERS = 4
    GROUPS = 5
    EVENTS = 6


def stream(spec: PlatformSpec, *key: int) -> np.random.Generator:
    """Return the generator of one stream, e.g. ``stream(spec, Stream.USERS, block)``."""
    return np.random.default_rng([spec.seed, *key])


def _shares(values: dict[str, float] | tuple[float, ...]) -> np.ndarray:
    raw = np.asarray(list(values.values()) if isinstance(values, dict) else values, float)
    shares: np.ndarray = raw / raw.sum()
    return shares


def topic_popularity(spec: PlatformSpec) -> np.ndarray:
    """Share of each topic in the catalog: Zipf over the order of ``spec.topics``."""
    ranks = np.arange(1, len(spec.topics) + 1, dtype=float)
    weights = ranks**-spec.population.topic_zipf
    shares: np.ndarray = weights / weights.sum()
    return shares


@dataclass(frozen=True, slots=True)
class Creators:
    """Creator latents: stage code (0 novice, 1 mid, 2 head), quality, focus topic, output."""

    stage: np.ndarray
    quality: np.ndarray
    focus: np.ndarray
    output_rate: np.ndarray
    created_at: np.ndarray


def make_creators(spec: PlatformSpec) -> Creators:
    """Draw every creator (head creators are better on average and publish more)."""
    rng, p, n = stream(spec, Stream.CREATORS), spec.population, spec.creators
    stage = rng.choice(3, size=n, p=_shares(p.stage_shares)).astype(np.int8)
    quality = rng.beta(np.array([2.0, 3.0, 4.0])[stage], np.array([3.0, 2.5, 2.0])[stage])
    focus = rng.choice(len(spec.topics), size=n, p=topic_popularity(spec)).astype(np.int16)
    output = np.asarray(p.stage_output)[stage] * rng.lognormal(0.0, 0.5, n)
    age = p.backlog_days + rng.uniform(0.0, 700.0, n)
    return Creators(stage, quality.astype(np.float32), focus, output, spec.start_ts - age * DAY)


@dataclass(frozen=True, slots=True)
class Items:
    """Item latents, in creation order (item ``i`` was published no later than ``i + 1``).

    ``topics[:, 0]`` is the main topic (the category) and ``weights`` the topic mixture:
    affinity to a user is ``sum_k weights[:, k] * interests[user, topics[:, k]]``.
    ``exposure`` is the time-independent part of the logging policy's weight.
    """

    topics: np.ndarray
    weights: np.ndarray
    quality: np.ndarray
    duration: np.ndarray
    creator: np.ndarray
    created_at: np.ndarray
    exposure: np.ndarray


def make_items(spec: PlatformSpec, creators: Creators) -> Items:
    """Draw every item: creator by output rate, topics around the creator's focus."""
    rng, p, r, n = stream(spec, Stream.ITEMS), spec.population, spec.response, spec.items
    creator = rng.choice(spec.creators, size=n, p=creators.output_rate / creators.output_rate.sum())
    n_topics = len(spec.topics)
    popular = topic_popularity(spec)
    main = np.where(
        rng.random(n) < p.focus_share,
        creators.focus[creator],
        rng.choice(n_topics, size=n, p=popular),
    )
    topics = np.stack([main, *rng.choice(n_topics, size=(2, n), p=popular)], axis=1)
    w_main = rng.beta(6.0, 2.0, n)
    split = rng.random(n)
    weights = np.stack([w_main, (1 - w_main) * split, (1 - w_main) * (1 - split)], axis=1)
    quality = np.clip(creators.quality[creator] + rng.normal(0.0, 0.1, n), 0.0, 1.0)
    duration = np.clip(rng.lognormal(np.log(p.duration_median), p.duration_sigma, n), 5.0, 3600.0)
    window = (p.backlog_days + spec.days) * DAY
    created_at = np.sort(spec.start_ts - p.backlog_days * DAY + rng.random(n) * window)
    virality = rng.lognormal(0.0, r.popularity_sigma, n)
    stage_boost = np.asarray(r.stage_exposure)[creators.stage[creator]]
    exposure = virality * stage_boost * np.exp(r.quality_exposure * quality)
    return Items(
        topics.astype(np.int16),
        weights.astype(np.float32),
        quality.astype(np.float32),
        np.round(duration, 1).astype(np.float32),
        creator.astype(np.int32),
        created_at,
        exposure,
    )


@dataclass(frozen=True, slots=True)
class Ads:
    """Advertiser and ad latents; ad ``j`` belongs to advertiser ``j // ads_per_advertiser``."""

    budget: np.ndarray
    target_cpa: np.ndarray
    category: np.ndarray
    advertiser: np.ndarray
    bid_type: np.ndarray
    bid: np.ndarray
    true_ctr: np.ndarray
    true_cvr: np.ndarray
    landing_quality: np.ndarray
    ecpm: np.ndarray


def make_ads(spec: PlatformSpec) -> Ads:
    """Draw advertisers and their ads; ``ecpm`` is expected revenue per 1,000 impressions."""
    rng, p = stream(spec, Stream.ADS), spec.population
    n_adv, n_ads = spec.advertisers, spec.ads
    budget = np.round(rng.lognormal(np.log(500.0), 1.0, n_adv), 2)
    target_cpa = np.round(rng.lognormal(np.log(20.0), 0.6, n_adv), 2)
    category = rng.choice(len(spec.topics), size=n_adv, p=topic_popularity(spec)).astype(np.int16)
    advertiser = np.arange(n_ads) // p.ads_per_advertiser
    bid_type = rng.choice(3, size=n_ads, p=_shares(p.bid_type_shares)).astype(np.int8)
    landing = rng.beta(5.0, 2.0, n_ads)
    true_ctr = rng.beta(2.0, 98.0, n_ads)
    true_cvr = rng.beta(2.0, 38.0, n_ads) * (0.5 + landing)
    cpa = target_cpa[advertiser]
    cpc = np.round(rng.lognormal(np.log(0.5), 0.5, n_ads), 2)
    cpm = np.round(rng.lognormal(np.log(5.0), 0.5, n_ads), 2)
    bid = np.select([bid_type == 0, bid_type == 1], [cpc, cpm], cpa)
    value_per_impression = np.select(
        [bid_type == 0, bid_type == 1], [cpc * true_ctr, cpm / 1000.0], cpa * true_ctr * true_cvr
    )
    return Ads(
        budget,
        target_cpa,
        category,
        advertiser,
        bid_type,
        bid,
        true_ctr,
        true_cvr,
        landing,
        1000.0 * value_per_impression,
    )


@dataclass(frozen=True, slots=True)
class UserBlock:
    """Latents of users ``first .. first + len - 1``; ``interests`` rows sum to 1."""

    first: int
    interests: np.ndarray
    activity: np.ndarray
    created_at: np.ndarray
    group: np.ndarray
    region: np.ndarray
    consent: np.ndarray
    payer: np.ndarray

    def __len__(self) -> int:
        return len(self.activity)


def group_bases(spec: PlatformSpec) -> np.ndarray:
    """Topic base measure of each user group: popularity tilted per group, so groups differ."""
    rng = stream(spec, Stream.GROUPS)
    shape = (len(spec.population.groups), len(spec.topics))
    tilt = rng.normal(0.0, spec.population.group_tilt, shape)
    base = topic_popularity(spec) * np.exp(tilt)
    bases: np.ndarray = base / base.sum(axis=1, keepdims=True)
    return bases


def make_user_block(spec: PlatformSpec, block: int) -> UserBlock:
    """Draw the users of one block (its own stream, so blocks are independent)."""
    rng, p = stream(spec, Stream.USERS, block), spec.population
    first = block * spec.user_block
    n = min(spec.user_block, spec.users - first)
    group = rng.choice(len(p.groups), size=n, p=_shares(p.groups)).astype(np.int8)
    region = rng.choice(len(p.regions), size=n, p=_shares(p.regions)).astype(np.int8)
    alpha = p.interest_concentration * len(spec.topics) * group_bases(spec)[group]
    raw = rng.standard_gamma(alpha) + 1e-12
    interests = (raw / raw.sum(axis=1, keepdims=True)).astype(np.float32)
    region_rng = stream(spec, Stream.GROUPS, 1)
    region_factor = np.exp(region_rng.normal(0.0, p.region_activity, len(p.regions)))
    sigma = p.activity_sigma
    activity = p.mean_activity * region_factor[region] * rng.lognormal(-(sigma**2) / 2, sigma, n)
    new = rng.random(n) < p.new_user_share
    offset = np.where(new, rng.random(n) * spec.days, -rng.random(n) * 365.0)
    joined = spec.start_ts + offset * DAY
    shares = np.array([p.consent_personalization, p.consent_ads, p.consent_analytics])
    consent = rng.random((n, 3)) < shares
    payer = rng.random(n) < p.payer_share
    return UserBlock(first, interests, activity, joined, group, region, consent, payer)
