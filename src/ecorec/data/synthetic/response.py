"""How synthetic users respond to what the logging policy showed them.

The equations are those of ``docs/synthetic-platform.md`` §4; each function draws one stage of
the response for every slot of a block-day at once and appends the resulting events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecorec.core.events import EventType
from ecorec.data.synthetic.columns import COMMENTS, EventColumns, ExtraTemplate
from ecorec.data.synthetic.latents import Ads, Items, UserBlock
from ecorec.data.synthetic.policy import TopicSampler
from ecorec.data.synthetic.sessions import Requests, Slots, sample_topics
from ecorec.data.synthetic.spec import PlatformSpec

#: ``extra`` template codes (0 is null): impressions by channel, ads, comments, orders.
IMPRESSION_EXTRA = 1  # + channel code (popular, interest)
AD_EXTRA = 3
COMMENT_EXTRA = 4  # + index into COMMENTS
ORDER_EXTRA = COMMENT_EXTRA + len(COMMENTS)


def extra_templates(order_prefix: str, order_width: int) -> list[ExtraTemplate]:
    """Return the ``extra`` templates of one block-day, in code order."""

    def channel(name: str) -> ExtraTemplate:
        return ExtraTemplate(f'{{"channel":"{name}","propensity":', "sci", "}")

    return [
        ExtraTemplate(""),
        channel("popular"),
        channel("interest"),
        channel("ad"),
        *(ExtraTemplate(f'{{"text":"{text}"}}') for text in COMMENTS),
        ExtraTemplate(f'{{"order_id":"{order_prefix}', "int", '"}', order_width),
    ]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return p


def affinity(users: UserBlock, items: Items, user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Compute ``a = sum_k w_ik * theta_u[topic_ik]``: interests dot topic mixture, in [0, 1]."""
    theta = users.interests[user[:, None], items.topics[item]]
    a: np.ndarray = (items.weights[item] * theta).sum(axis=1, dtype=np.float64)
    return a


def click_probability(
    spec: PlatformSpec, a: np.ndarray, quality: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """``sigmoid(b0 + b_a * a + b_q * (q - 0.5) - b_p * ln(1 + position))``."""
    r = spec.response
    logit = (
        r.click_bias
        + r.click_affinity * a
        + r.click_quality * (quality - 0.5)
        - r.click_position * np.log1p(position)
    )
    return _sigmoid(logit)


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the history keeps from a block-day: satisfaction per user, new blocks."""

    satisfaction: np.ndarray
    blocked_user: np.ndarray
    blocked_creator: np.ndarray


def organic(
    spec: PlatformSpec,
    out: EventColumns,
    requests: Requests,
    slots: Slots,
    users: UserBlock,
    items: Items,
    creator_stage: np.ndarray,
    rng: np.random.Generator,
) -> Feedback:
    """Impressions and every response to them: click, play, engagement, support, negatives."""
    r = spec.response
    user, item, pos, req = requests.user[slots.request], slots.item, slots.position, slots.request
    guser, creator = users.first + user, items.creator[item].astype(np.int64)
    ts = requests.ts[req] + 0.01 * pos
    out.add(
        EventType.IMPRESSION,
        ts,
        guser,
        item=item,
        creator=creator,
        request=req,
        position=pos,
        extra=IMPRESSION_EXTRA + slots.channel,
        extra_num=slots.propensity,
    )
    a = affinity(users, items, user, item)
    quality = items.quality[item]
    clicked = rng.random(len(item)) < click_probability(spec, a, quality, pos)
    c = np.flatnonzero(clicked)
    on = {"item": item[c], "creator": creator[c], "request": req[c]}
    t_click = ts[c] + 1.0 + rng.exponential(3.0, len(c))
    out.add(EventType.CLICK, t_click, guser[c], position=pos[c], **on)
    mean = _sigmoid(
        r.completion_bias + r.completion_affinity * a[c] + r.completion_quality * (quality[c] - 0.5)
    )
    k = r.completion_concentration
    completion = rng.beta(k * mean, k * (1.0 - mean))
    watch = np.round(completion * items.duration[item[c]], 1)
    t_play = t_click + 0.5
    out.add(EventType.PLAY, t_play, guser[c], value=watch, **on)
    engaged = completion**r.engagement_power
    for kind, rate in (
        (EventType.LIKE, r.like_rate),
        (EventType.SHARE, r.share_rate),
        (EventType.COMMENT, r.comment_rate),
        (EventType.FOLLOW, r.follow_rate),
    ):
        hit = np.flatnonzero(rng.random(len(c)) < rate * engaged)
        when = t_play[hit] + watch[hit] * rng.random(len(hit)) + 0.1
        text = None
        if kind is EventType.COMMENT:
            text = COMMENT_EXTRA + rng.integers(0, len(COMMENTS), len(hit)).astype(np.int8)
        out.add(kind, when, guser[c][hit], extra=text, **{k: v[hit] for k, v in on.items()})
    _support(spec, out, users, user[c], on, creator_stage, t_play + watch, engaged, rng)
    blocked = _negative(spec, out, guser, item, creator, req, ts, a, np.flatnonzero(~clicked), rng)
    n_plays = np.bincount(user[c], minlength=len(users))
    sums = np.bincount(user[c], weights=completion, minlength=len(users))
    return Feedback(sums / np.maximum(n_plays, 1), guser[blocked], creator[blocked])


def _support(
    spec: PlatformSpec,
    out: EventColumns,
    users: UserBlock,
    user: np.ndarray,
    on: dict[str, np.ndarray],
    creator_stage: np.ndarray,
    after: np.ndarray,
    engaged: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Tips and subscriptions: only payers, more likely the more of the item they watched."""
    r = spec.response
    payer = users.payer[user]
    tip = np.flatnonzero(payer & (rng.random(len(user)) < r.tip_rate * engaged))
    amount = np.round(np.maximum(rng.lognormal(np.log(r.tip_median), 0.7, len(tip)), 0.5), 2)
    out.add(
        EventType.TIP,
        after[tip] + 1.0,
        users.first + user[tip],
        value=amount,
        **{k: v[tip] for k, v in on.items()},
    )
    sub = np.flatnonzero(payer & (rng.random(len(user)) < r.subscribe_rate * engaged))
    price = np.asarray(r.subscribe_prices)[creator_stage[on["creator"][sub]]]
    out.add(
        EventType.SUBSCRIBE,
        after[sub] + 2.0,
        users.first + user[sub],
        value=price,
        **{k: v[sub] for k, v in on.items()},
    )


def _negative(
    spec: PlatformSpec,
    out: EventColumns,
    guser: np.ndarray,
    item: np.ndarray,
    creator: np.ndarray,
    req: np.ndarray,
    ts: np.ndarray,
    a: np.ndarray,
    skipped: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``not_interested`` with ``rate * exp(-a / scale)`` on skipped slots; some then block.

    Returns:
        The slots whose creator was blocked.

    """
    r = spec.response
    p = r.not_interested_rate * np.exp(-a[skipped] / r.not_interested_scale)
    ni = skipped[rng.random(len(skipped)) < p]
    t_ni = ts[ni] + 1.0 + rng.exponential(3.0, len(ni))
    out.add(
        EventType.NOT_INTERESTED,
        t_ni,
        guser[ni],
        item=item[ni],
        creator=creator[ni],
        request=req[ni],
    )
    blk = rng.random(len(ni)) < r.block_rate
    b = ni[blk]
    out.add(
        EventType.BLOCK_CREATOR,
        t_ni[blk] + 1.0,
        guser[b],
        item=item[b],
        creator=creator[b],
        request=req[b],
    )
    blocked: np.ndarray = b
    return blocked


def advertising(
    spec: PlatformSpec,
    out: EventColumns,
    requests: Requests,
    users: UserBlock,
    ads: Ads,
    sampler: TopicSampler,
    rng: np.random.Generator,
) -> None:
    """Ad impressions in ad slots, ad clicks at the ad's CTR times interest match, conversions."""
    r = spec.response
    req = np.flatnonzero(requests.has_ad)
    user = requests.user[req]
    share = np.where(users.consent[:, 1], r.ad_targeting, 0.0)[user]
    targeted = np.flatnonzero(rng.random(len(req)) < share)
    u = rng.random(len(req))
    ad = sampler.draw(u)
    topic = sample_topics(users.interests, user[targeted], rng.random(len(targeted)))
    ok = sampler.mass[topic] > 0
    ad[targeted[ok]] = sampler.draw_in(topic[ok], u[targeted[ok]])
    interest = users.interests[user, sampler.topic[ad]]
    orphan = (users.interests * (sampler.mass == 0)).sum(axis=1)[user]
    propensity = sampler.propensity(ad, share, interest, orphan)
    guser, pos = users.first + user, np.full(len(req), r.ad_position, np.int32)
    ts = requests.ts[req] + 0.01 * r.ad_position
    out.add(
        EventType.IMPRESSION,
        ts,
        guser,
        ad=ad,
        request=req,
        position=pos,
        extra=np.full(len(req), AD_EXTRA, np.int8),
        extra_num=propensity,
    )
    match = 1.0 - r.ad_match + r.ad_match * len(spec.topics) * interest
    ctr = np.clip(ads.true_ctr[ad] * match, 0.0, 0.95)
    c = np.flatnonzero(rng.random(len(req)) < ctr)
    t_click = ts[c] + 1.0 + rng.exponential(3.0, len(c))
    out.add(EventType.CLICK, t_click, guser[c], ad=ad[c], request=req[c], position=pos[c])
    converted = rng.random(len(c)) < ads.true_cvr[ad[c]]
    conv = c[converted]
    cpa = ads.target_cpa[ads.advertiser[ad[conv]]]
    value = np.round(cpa * r.roas_mean * rng.lognormal(-0.125, 0.5, len(conv)), 2)
    t_conv = t_click[converted] + 5.0 + rng.exponential(600.0, len(conv))
    out.add(
        EventType.CONVERSION,
        t_conv,
        guser[conv],
        ad=ad[conv],
        request=req[conv],
        value=value,
        extra=np.full(len(conv), ORDER_EXTRA, np.int8),
        extra_num=np.arange(len(conv)),
    )
