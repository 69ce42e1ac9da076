"""Who opens the app when, and what each feed request shows: sessions, requests and slates.

Everything is drawn for a whole block of users at once: per-user counts become flat arrays with
``np.repeat``, so the cost is a few numpy passes per block-day, never a Python loop per user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecorec.data.synthetic.latents import DAY, UserBlock
from ecorec.data.synthetic.policy import TopicSampler
from ecorec.data.synthetic.spec import PlatformSpec

#: Channel codes of organic slots (the ``channel`` of the impression's ``extra``).
POPULAR, INTEREST = 0, 1
#: Sessions start in the first 95% of the day so requests (at most ``max_requests`` gaps
#: later) stay inside it.
_SESSION_SPAN = 0.95


@dataclass(frozen=True, slots=True)
class Requests:
    """Feed requests of one block-day, in session order: block-local user, time, ad flag."""

    user: np.ndarray
    ts: np.ndarray
    has_ad: np.ndarray


def draw_requests(
    spec: PlatformSpec, users: UserBlock, alive: np.ndarray, day: int, rng: np.random.Generator
) -> Requests:
    """Draw Poisson(activity) sessions per live user, then 1 + Geometric requests per session.

    Users who join during the day start their sessions after ``created_at``.
    """
    r = spec.response
    day_start = spec.start_ts + day * DAY
    joined_by = np.clip(users.created_at - day_start, 0.0, None)
    active = alive & (joined_by < _SESSION_SPAN * DAY)
    sessions = rng.poisson(np.where(active, users.activity, 0.0))
    session_user = np.repeat(np.arange(len(users)), sessions)
    lo = joined_by[session_user]
    start = day_start + lo + rng.random(len(session_user)) * (_SESSION_SPAN * DAY - lo)
    count = np.minimum(rng.geometric(1.0 / r.mean_requests, len(session_user)), r.max_requests)
    session = np.repeat(np.arange(len(session_user)), count)
    step = np.arange(len(session)) - np.repeat(np.cumsum(count) - count, count)
    ts = start[session] + (step + 0.5 * rng.random(len(session))) * r.request_gap
    fits = r.ad_position < r.slate_size
    has_ad = rng.random(len(session)) < (r.ad_fill if fits and spec.ads > 0 else 0.0)
    return Requests(session_user[session], ts, has_ad)


@dataclass(frozen=True, slots=True)
class Slots:
    """Organic impressions: request index, position, item, channel code and propensity."""

    request: np.ndarray
    position: np.ndarray
    item: np.ndarray
    channel: np.ndarray
    propensity: np.ndarray


def sample_topics(interests: np.ndarray, user: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one topic per row from the row user's interest distribution.

    Offsetting each user's cumulative interests by the user's index makes one sorted array
    for the whole block, so a single ``searchsorted`` serves every row.
    """
    n_users, n_topics = interests.shape
    cum = np.cumsum(interests, axis=1, dtype=np.float64)
    cum /= cum[:, -1:]
    flat = (cum + np.arange(n_users)[:, None]).ravel()
    pos = np.searchsorted(flat, user + u, side="right") - user * n_topics
    topics: np.ndarray = np.clip(pos, 0, n_topics - 1)
    return topics


def personal_share(spec: PlatformSpec, users: UserBlock) -> np.ndarray:
    """Per user, the chance a slot is drawn by interest (0 without personalization consent)."""
    return np.where(users.consent[:, 0], spec.response.interest_share, 0.0)


def draw_slates(
    spec: PlatformSpec,
    requests: Requests,
    users: UserBlock,
    sampler: TopicSampler,
    rng: np.random.Generator,
) -> Slots:
    """Fill each request's organic positions from the mixture of popularity and interest.

    A repeated item inside one slate is redrawn once from the popularity channel and dropped if
    it repeats again, so slates hold distinct items.
    """
    r = spec.response
    size = r.slate_size
    n_req = len(requests.ts)
    position = np.tile(np.arange(size, dtype=np.int32), n_req)
    request = np.repeat(np.arange(n_req), size)
    keep = ~(requests.has_ad[request] & (position == r.ad_position))
    position, request = position[keep], request[keep]
    user = requests.user[request]
    share = personal_share(spec, users)
    channel = (rng.random(len(request)) < share[user]).astype(np.int8)
    u = rng.random(len(request))
    item = sampler.draw(u)
    chosen = np.flatnonzero(channel == INTEREST)
    topic = sample_topics(users.interests, user[chosen], rng.random(len(chosen)))
    ok = sampler.mass[topic] > 0
    item[chosen[ok]] = sampler.draw_in(topic[ok], u[chosen[ok]])
    channel[chosen[~ok]] = POPULAR
    item, channel, keep = _distinct(request, item, channel, sampler, rng)
    request, position, user = request[keep], position[keep], user[keep]
    interests = users.interests
    topic_interest = interests[user, sampler.topic[item]]
    orphan = (interests * (sampler.mass == 0)).sum(axis=1)[user]
    propensity = sampler.propensity(item, share[user], topic_interest, orphan)
    return Slots(request, position, item, channel, propensity)


def _distinct(
    request: np.ndarray,
    item: np.ndarray,
    channel: np.ndarray,
    sampler: TopicSampler,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Redraw repeated (request, item) pairs once; return items, channels and a keep mask."""
    dup = _repeats(request, item)
    if len(dup):
        item[dup] = sampler.draw(rng.random(len(dup)))
        channel[dup] = POPULAR
        dup = _repeats(request, item)
    keep = np.ones(len(item), dtype=bool)
    keep[dup] = False
    return item[keep], channel[keep], keep


def _repeats(request: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Rows whose (request, item) pair already appeared at a lower row."""
    key = request.astype(np.int64) * (int(item.max(initial=0)) + 1) + item
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    repeats: np.ndarray = order[1:][ranked[1:] == ranked[:-1]]
    return repeats
