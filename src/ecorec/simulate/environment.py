"""The simulated world: item and ad latents from the catalog, and how a user reacts to a slate.

Reactions follow the synthetic platform's response model (``docs/synthetic-platform.md`` §5,
:mod:`ecorec.data.synthetic.response`): the same affinity ``a = sum_k w_k theta[topic_k]``, the
same click curve (:func:`~ecorec.data.synthetic.response.click_probability`), completion, likes,
shares, comments, follows, tips, subscriptions, ``not_interested`` and blocks with the
generator's :class:`~ecorec.data.synthetic.spec.ResponseParams`. The simulation changes only the
``theta`` it is applied to (:mod:`.users`): interests dulled by fatigue, within the slate too
(each slot sees the fatigue of the slots above it), and an item the user was shown recently
keeps only ``repeat_penalty`` of its affinity, so repetitive slates are skipped and rejected
more. Ads: click ``clip(CTR x (1 - m + m T theta[category]))``, conversion at the ad's CVR and
value ``target CPA x roas_mean x LN(-0.125, 0.5)``, as in the generator.

A request's satisfaction (:func:`request_utility`) is the completion it earned, capped at one
good watch, minus 0.5 per negative reaction, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecorec.core.contracts import SlateItem
from ecorec.core.entities import Ad, Advertiser, Item
from ecorec.core.events import Event, EventType
from ecorec.data.synthetic.response import click_probability
from ecorec.data.synthetic.spec import DEFAULT_TOPICS, PlatformSpec
from ecorec.simulate.users import UserAgents

_ENGAGEMENT = (
    (EventType.LIKE, "like_rate"),
    (EventType.SHARE, "share_rate"),
    (EventType.COMMENT, "comment_rate"),
    (EventType.FOLLOW, "follow_rate"),
)


def request_utility(completion_sum: float, negatives: int) -> float:
    """Satisfaction of one request: ``clip(min(1, sum completion) - 0.5 * negatives, 0, 1)``."""
    return float(min(1.0, max(0.0, min(1.0, completion_sum) - 0.5 * negatives)))


@dataclass
class Reaction:
    """What one user did with one slate, and what it means for creators and advertisers."""

    events: list[Event] = field(default_factory=list)
    utility: float = 0.0
    creators_shown: list[int] = field(default_factory=list)
    creator_income: dict[int, float] = field(default_factory=dict)
    ad_clicks: list[str] = field(default_factory=list)
    conversions: dict[int, tuple[int, float]] = field(default_factory=dict)


@dataclass
class World:
    """Latents of every item and ad the pipeline can serve, indexed by row.

    ``item_creator`` is the creator agent row of each item (-1 for a creator not simulated).
    """

    spec: PlatformSpec
    item_index: dict[str, int]
    item_topics: np.ndarray
    item_weights: np.ndarray
    quality: np.ndarray
    duration: np.ndarray
    item_creator: np.ndarray
    item_creator_id: list[str | None]
    ad_index: dict[str, int]
    ad_ctr: np.ndarray
    ad_cvr: np.ndarray
    ad_topic: np.ndarray
    ad_advertiser: np.ndarray
    ad_target_cpa: np.ndarray
    creator_row: dict[str, int] = field(default_factory=dict)

    @property
    def topics(self) -> tuple[str, ...]:
        return self.spec.topics

    @classmethod
    def from_entities(
        cls,
        items: Sequence[Item],
        ads: Sequence[Ad],
        advertisers: Sequence[Advertiser],
        creator_ids: Sequence[str],
        spec: PlatformSpec | None = None,
    ) -> World:
        """Index the catalog's items and ads; topics are the generator's plus any new category.

        An item's topic mixture is its ``attrs["topics"]`` (synthetic catalogs), else its
        category with weight 1; quality defaults to 0.5, duration to 45 s.
        """
        names = list(spec.topics if spec is not None else DEFAULT_TOPICS)
        for item in items:
            mixture = item.attrs.get("topics") or ({item.category: 1.0} if item.category else {})
            names += [topic for topic in mixture if topic not in names]
        spec = (spec or PlatformSpec()).model_copy(update={"topics": tuple(names[:127])})
        world = cls.empty(spec, advertisers, ads, creator_ids)
        world.add_items(items)
        return world

    @classmethod
    def empty(
        cls,
        spec: PlatformSpec,
        advertisers: Sequence[Advertiser],
        ads: Sequence[Ad],
        creator_ids: Sequence[str],
    ) -> World:
        index = {name: k for k, name in enumerate(spec.topics)}
        adv_row = {
            a.advertiser_id: k
            for k, a in enumerate(sorted(advertisers, key=lambda a: a.advertiser_id))
        }
        cpa = {a.advertiser_id: float(a.target_cpa or 0.0) for a in advertisers}
        return cls(
            spec,
            {},
            np.zeros((0, 3), np.int64),
            np.zeros((0, 3)),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, np.int64),
            [],
            {ad.ad_id: k for k, ad in enumerate(ads)},
            np.array([float(ad.true_ctr or 0.0) for ad in ads]),
            np.array([float(ad.true_cvr or 0.0) for ad in ads]),
            np.array([index.get(ad.category or "", -1) for ad in ads], np.int64),
            np.array([adv_row.get(ad.advertiser_id, -1) for ad in ads], np.int64),
            np.array([float(ad.target_cpa or cpa.get(ad.advertiser_id, 0.0)) for ad in ads]),
            {c: k for k, c in enumerate(creator_ids)},
        )

    def add_items(self, items: Sequence[Item]) -> None:
        """Make ``items`` servable (the catalog's at the start, then newly published ones)."""
        index = {name: k for k, name in enumerate(self.topics)}
        creator_row = self.creator_row
        topics, weights = np.zeros((len(items), 3), np.int64), np.zeros((len(items), 3))
        for r, item in enumerate(items):
            mixture = item.attrs.get("topics") or ({item.category: 1.0} if item.category else {})
            known = [(index[t], float(w)) for t, w in mixture.items() if t in index][:3]
            for k, (t, w) in enumerate(known):
                topics[r, k], weights[r, k] = t, w
            self.item_index[item.item_id] = len(self.item_index)
        self.item_topics = np.concatenate([self.item_topics, topics])
        self.item_weights = np.concatenate([self.item_weights, weights])
        q = [item.quality if item.quality is not None else 0.5 for item in items]
        d = [item.duration if item.duration is not None else 45.0 for item in items]
        c = [creator_row.get(item.creator_id or "", -1) for item in items]
        self.quality = np.concatenate([self.quality, np.asarray(q, float)])
        self.duration = np.concatenate([self.duration, np.asarray(d, float)])
        self.item_creator = np.concatenate([self.item_creator, np.asarray(c, np.int64)])
        self.item_creator_id += [item.creator_id for item in items]

    # -- reactions -------------------------------------------------------------------------

    def respond(
        self,
        users: UserAgents,
        user: int,
        request_id: str,
        ts: float,
        slots: Sequence[SlateItem],
        rng: np.random.Generator,
    ) -> Reaction:
        """Draw the user's reactions to a served slate (impressions are logged by the caller)."""
        reaction = Reaction()
        content = [s for s in slots if not s.is_ad and s.item_id in self.item_index]
        completion = self._organic(users, user, request_id, ts, content, rng, reaction)
        negatives = sum(e.type == EventType.NOT_INTERESTED for e in reaction.events)
        for slot in slots:
            if slot.is_ad and slot.ad_id in self.ad_index:
                self._ad(users, user, request_id, ts, slot, rng, reaction)
        reaction.utility = request_utility(completion, negatives)
        return reaction

    def _organic(
        self,
        users: UserAgents,
        user: int,
        rid: str,
        ts: float,
        content: Sequence[SlateItem],
        rng: np.random.Generator,
        reaction: Reaction,
    ) -> float:
        """Clicks, plays, engagement, money and negatives on the content slots; sum completion."""
        if not content:
            return 0.0
        r, p = self.spec.response, users.params
        rows = np.array([self.item_index[s.item_id] for s in content])
        pos = np.array([s.position for s in content], float)
        topics, weights = self.item_topics[rows], self.item_weights[rows]
        n, n_topics = len(rows), len(self.topics)
        shown = np.zeros((n, n_topics))
        np.add.at(shown, (np.repeat(np.arange(n), 3), topics.ravel()), weights.ravel())
        above = np.cumsum(shown, axis=0) - shown  # topic exposure of the slots above each slot
        theta = users.effective_interests(user)[None, :] * np.exp(
            -p.fatigue_strength * p.fatigue_gain * above
        )
        a = (weights * np.take_along_axis(theta, topics, axis=1)).sum(axis=1)
        a = np.where(users.seen_recently(user, rows), a * p.repeat_penalty, a)
        quality = self.quality[rows]
        clicked = rng.random(n) < click_probability(self.spec, a, quality, pos)
        users.shown(user, rows, topics, weights)
        uid, total = users.ids[user], 0.0
        for j in range(n):
            item, c_row = content[j].item_id, int(self.item_creator[rows[j]])
            on = {"item_id": item, "creator_id": self.item_creator_id[rows[j]], "request_id": rid}
            if c_row >= 0:
                reaction.creators_shown.append(c_row)
            if not clicked[j]:
                if rng.random() < r.not_interested_rate * np.exp(-a[j] / r.not_interested_scale):
                    t = ts + 1.0 + rng.exponential(3.0)
                    reaction.events.append(_ev(rid, j, "ni", t, uid, EventType.NOT_INTERESTED, on))
                    if on["creator_id"] and rng.random() < r.block_rate:
                        reaction.events.append(
                            _ev(rid, j, "bc", t + 1.0, uid, EventType.BLOCK_CREATOR, on)
                        )
                continue
            t = ts + 1.0 + rng.exponential(3.0)
            pos_j = int(pos[j])
            reaction.events.append(_ev(rid, j, "ck", t, uid, EventType.CLICK, on, position=pos_j))
            mean = 1.0 / (
                1.0
                + np.exp(
                    -(
                        r.completion_bias
                        + r.completion_affinity * a[j]
                        + r.completion_quality * (quality[j] - 0.5)
                    )
                )
            )
            k = r.completion_concentration
            c = float(rng.beta(k * mean, k * (1.0 - mean)))
            total += c
            watch = round(c * float(self.duration[rows[j]]), 1)
            reaction.events.append(_ev(rid, j, "pl", t + 0.5, uid, EventType.PLAY, on, value=watch))
            engaged = c**r.engagement_power
            for kind, rate in _ENGAGEMENT:
                if rng.random() < getattr(r, rate) * engaged:
                    extra = {"text": "simulated"} if kind is EventType.COMMENT else None
                    when = t + 0.6 + watch * rng.random()
                    reaction.events.append(
                        _ev(rid, j, kind.value, when, uid, kind, on, extra=extra)
                    )
            if users.payer[user] and on["creator_id"]:
                self._support(rid, j, t + 0.5 + watch, uid, on, c_row, engaged, rng, reaction)
        return total

    def _support(
        self,
        rid: str,
        j: int,
        after: float,
        uid: str,
        on: dict[str, Any],
        c_row: int,
        engaged: float,
        rng: np.random.Generator,
        reaction: Reaction,
    ) -> None:
        """Tips and subscriptions of a payer, as the generator draws them."""
        r = self.spec.response
        money = 0.0
        if rng.random() < r.tip_rate * engaged:
            amount = round(max(float(rng.lognormal(np.log(r.tip_median), 0.7)), 0.5), 2)
            reaction.events.append(
                _ev(rid, j, "tp", after + 1.0, uid, EventType.TIP, on, value=amount)
            )
            money += amount
        if rng.random() < r.subscribe_rate * engaged:
            price = float(r.subscribe_prices[1])
            reaction.events.append(
                _ev(rid, j, "sb", after + 2.0, uid, EventType.SUBSCRIBE, on, value=price)
            )
            money += price
        if money and c_row >= 0:
            reaction.creator_income[c_row] = reaction.creator_income.get(c_row, 0.0) + money

    def _ad(
        self,
        users: UserAgents,
        user: int,
        rid: str,
        ts: float,
        slot: SlateItem,
        rng: np.random.Generator,
        reaction: Reaction,
    ) -> None:
        """Ad click at the ad's CTR times interest match; conversion at its CVR."""
        r, row = self.spec.response, self.ad_index[slot.ad_id or ""]
        topic = int(self.ad_topic[row])
        interest = float(users.interests[user, topic]) if topic >= 0 else 1.0 / len(self.topics)
        match = 1.0 - r.ad_match + r.ad_match * len(self.topics) * interest
        if rng.random() >= min(0.95, max(0.0, float(self.ad_ctr[row]) * match)):
            return
        on = {"ad_id": slot.ad_id, "request_id": rid}
        t = ts + 1.0 + rng.exponential(3.0)
        uid, j = users.ids[user], slot.position
        reaction.events.append(_ev(rid, j, "ack", t, uid, EventType.CLICK, on, position=j))
        reaction.ad_clicks.append(slot.ad_id or "")
        if rng.random() >= self.ad_cvr[row]:
            return
        value = round(
            float(self.ad_target_cpa[row]) * r.roas_mean * float(rng.lognormal(-0.125, 0.5)), 2
        )
        extra = {"order_id": f"o-{rid}-{j}"}
        when = t + 5.0 + rng.exponential(600.0)
        reaction.events.append(
            _ev(rid, j, "cv", when, uid, EventType.CONVERSION, on, value=value, extra=extra)
        )
        adv = int(self.ad_advertiser[row])
        count, total = reaction.conversions.get(adv, (0, 0.0))
        reaction.conversions[adv] = (count + 1, total + value)


def _ev(
    rid: str,
    slot: int,
    tag: str,
    ts: float,
    user_id: str,
    kind: EventType,
    on: dict[str, Any],
    position: int | None = None,
    value: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """One reaction event; its id derives from the request, the slot and the kind."""
    return Event(
        event_id=f"{rid}:{tag}:{slot}",
        ts=float(ts),
        user_id=user_id,
        type=kind,
        position=position,
        value=value,
        extra=extra,
        **on,
    )
