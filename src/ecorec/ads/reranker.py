"""AdsReranker: the last re-ranker, which puts auctioned ads into the content slate.

Per request: the ad-load policy decides how many ad slots the slate has and where
(:mod:`.load`); targeting picks the ads that may bid (:mod:`.targeting`); pacing lets each
advertiser in with its throttle probability and only while it can pay (:mod:`.pacing`); the ads
are scored (:mod:`.estimates`, or an :class:`~.estimates.AdScorer`: :mod:`.esmm_scorer`) and a
GSP auction with the request's dynamic floor fills the slots (:mod:`.auction`). Winners enter
the list as ``Candidate(is_ad=True, item_id="ad:<ad_id>", channel="ads")`` with the reason
``"sponsored"``; what each pays is kept per request for :meth:`AdsReranker.accounting_events`.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ecorec.ads.auction import Bid, Charge, GSPAuction, make_bid
from ecorec.ads.config import AdDecision, AdsConfig
from ecorec.ads.estimates import AdEstimates, AdScorer, count_ad_events
from ecorec.ads.load import LoadPolicy
from ecorec.ads.pacing import (
    BidAdjuster,
    BudgetPacer,
    SpendLedger,
    impression_event,
    utc_day,
)
from ecorec.ads.targeting import AdEntry, AdInventory
from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request, SlateItem
from ecorec.core.entities import Ad, Advertiser, BidType, Item, User
from ecorec.core.events import Event
from ecorec.core.profile import Consent, Profile
from ecorec.core.recent import USER_LIMIT, USER_SECONDS, Recent
from ecorec.data.protocols import Catalog
from ecorec.recall.lists import request_rng

if TYPE_CHECKING:  # the features package imports torch; the ads stage does not need it
    from ecorec.features.entities import CatalogSnapshot

_ESMM = "ecorec.ads.esmm_scorer"  # imported (with torch) only when ESMM is asked for


class AdsReranker(Component):
    """Inserts GSP auction winners into the ranked content under the ad-load caps.

    Trainable: ``train`` learns the pCTR/pCVR fallback from the EventLog's ad events (+ ESMM).

    Args:
        config: an :class:`AdsConfig` or its dict.
        inventory: the ads (tests, benchmarks); otherwise read in :meth:`attach`.
        estimates: trained estimates; ``scorer`` replaces them with a model's predictions.
        users: user id -> User for the segment and scenario (otherwise from the catalog).
        ledger: the spend ledger to share (e.g. rebuilt from the EventLog at start-up).

    Example:
        >>> ads = [Ad("a1", "x", bid=0.8, category="news", landing_quality=1.0)]
        >>> stage = AdsReranker(inventory=AdInventory.of(ads, [Advertiser("x", daily_budget=50.0)]),
        ...                     estimates=AdEstimates())
        >>> content = [Candidate(f"i{k}", 1.0 - k / 10, "popular") for k in range(10)]
        >>> [c.item_id for c in stage(Request("u", n=10, request_id="r", ts=1.0), Profile("u"),
        ...                             content)][:5]
        ['i0', 'i1', 'i2', 'ad:a1', 'i3']

    """

    name: ClassVar[str] = "ads"
    Config: ClassVar[type[ComponentConfig]] = AdsConfig
    config: AdsConfig

    def __init__(
        self,
        config: AdsConfig | dict[str, Any] | None = None,
        inventory: AdInventory | None = None,
        estimates: AdEstimates | None = None,
        scorer: AdScorer | None = None,
        users: Mapping[str, User] | None = None,
        ledger: SpendLedger | None = None,
    ) -> None:
        super().__init__(config)
        cfg = self.config
        self.inventory = inventory
        self.estimates = estimates
        self.scorer = scorer
        self.catalog: Catalog | None = None
        self.users: dict[str, User | None] = dict(users or {})
        self._recent_users = Recent[str, User | None](USER_SECONDS, limit=USER_LIMIT)
        self.categories: dict[str, str | None] = {}
        self.ledger = ledger if ledger is not None else SpendLedger()
        self.pacer = BudgetPacer(cfg.pacing)
        self.adjuster = BidAdjuster(cfg.bid_adjust)
        self.auction = GSPAuction(cfg.one_per_advertiser)
        self.policy = LoadPolicy(
            cfg.feed_max_load,
            cfg.scene_max_load,
            cfg.default_max_load,
            cfg.load_ceiling,
            cfg.min_gap,
            cfg.first_position,
            cfg.scenario,
        )
        self.decisions: OrderedDict[str, AdDecision] = OrderedDict()
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()  # one auction at a time: billing must not lose updates
        if cfg.scorer == "esmm" or cfg.esmm:
            import_module(_ESMM).ESMMAdScorer(cfg.esmm)  # bad keys fail now, not after training

    # -- wiring and training -------------------------------------------------------------

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read the ad inventory and item categories now; users and later items on demand.

        Categories are read here (from the pipeline's ``snapshot`` when there is one), not per
        request, which takes a catalog query off every request with an item first seen; users
        stay on demand (:meth:`_user`).
        """
        self.catalog = catalog
        items = snapshot.entities().items.values() if snapshot is not None else catalog.scan(Item)
        self.categories.update({i.item_id: i.category for i in items})
        self.inventory = AdInventory.of(catalog.scan(Ad), catalog.scan(Advertiser))
        self.stats.update({f"skipped:{k}": v for k, v in self.inventory.skipped.items()})
        if self.scorer is not None and hasattr(self.scorer, "attach"):  # new ads, for the ESMM
            self.scorer.attach(catalog)

    def train(self, data: Any, options: dict[str, Any] | None = None) -> None:
        """Learn per-ad pCTR/pCVR from ``data.events`` (a :class:`TrainingData`), and the ESMM."""
        if getattr(data, "events", None) is None:
            raise ValueError("ad estimates are learned from the event log; none was given")
        owners: dict[str, str] = {}
        if getattr(data, "catalog", None) is not None:
            owners = {ad.ad_id: ad.advertiser_id for ad in data.catalog.scan(Ad)}
        counts = count_ad_events(data.events, getattr(data, "end", None))
        self.estimates = AdEstimates.fit(counts, owners, self.config.estimates)
        if (cfg := self.config).scorer == "esmm":
            self.scorer = import_module(_ESMM).train_or_none(cfg.esmm, data, self.catalog)

    def is_trained(self) -> bool:
        return self.estimates is not None or self.scorer is not None

    def save(self, folder: Path) -> dict[str, Any]:
        if self.estimates is None:
            raise NotTrainedError(self)
        metrics = self.estimates.save(folder)
        if self.config.scorer == "esmm":
            metrics.update(import_module(_ESMM).save_into(self.scorer, folder))
        return metrics

    def load(self, folder: Path) -> None:
        self.estimates = AdEstimates.load(folder, self.config.estimates)
        if (cfg := self.config).scorer == "esmm":
            self.scorer = import_module(_ESMM).load_or_none(cfg.esmm, folder, self.catalog)

    # -- serving -------------------------------------------------------------------------

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        if not self.is_trained():
            raise NotTrainedError(self)
        content = [c for c in ranked if not c.is_ad]
        with self._lock:
            decision = self.decide(request, profile, content)
            self.stats[decision.reason or "filled"] += 1
            if request.request_id:
                self.decisions[request.request_id] = decision
                while len(self.decisions) > self.config.max_pending:
                    self.decisions.popitem(last=False)
        winners = iter(sorted(decision.charges.values(), key=lambda c: c.slot))
        out = list(content)
        for position in decision.positions:
            out.insert(position, self._candidate(next(winners), decision))
        return out

    def decide(
        self, request: Request, profile: Profile, content: Sequence[Candidate]
    ) -> AdDecision:
        """Run targeting, pacing and the auction for ``request``; nothing is inserted yet."""
        if not content:
            return AdDecision(reason="no_content")
        user = self._user(request.user_id)
        segment = request.context.get("segment") or (user.segment if user else None)
        load = self.policy.load(request.scene, segment, user, request.ts)
        slots = len(self.policy.positions(request.n, len(content), request.n, load))
        decision = AdDecision(load=load, floor=self.config.floor.floor(segment, request.scene))
        if slots == 0:
            decision.reason = "no_ad_slots"
            return decision
        entries = self._targeted(request, profile, content, segment)
        bids = self._paced_bids(request, profile, entries, decision)
        if not bids:
            decision.reason = "no_eligible_ads" if not entries else "budget_paced"
            return decision
        charges = self.auction.run(bids, slots, decision.floor)
        if not charges:
            decision.reason = "below_floor"
            return decision
        decision.positions = self.policy.positions(request.n, len(content), len(charges), load)
        day = utc_day(request.ts)
        for charge in charges[: len(decision.positions)]:
            decision.charges[charge.bid.ad_id] = charge
            if charge.bid.billing == "impression":
                self._bill(charge.bid.advertiser_id, day, Decimal(str(charge.max_cost)))
        if len(decision.charges) < slots:
            decision.reason = "partly_filled"
        return decision

    def _targeted(
        self, request: Request, profile: Profile, content: Sequence[Candidate], segment: str | None
    ) -> list[AdEntry]:
        if self.inventory is None:
            return []
        categories: list[str] = []
        if profile.allows(Consent.ADS_PERSONALIZATION):
            top = sorted(profile.interests.items(), key=lambda kv: (-kv[1], kv[0]))
            categories += [c for c, _ in top[: self.config.interest_categories]]
        else:
            segment = None  # no personal targeting without consent: contextual ads only
        categories += [c for c in self._categories(content[: request.n]) if c is not None]
        return self.inventory.candidates(request.scene, segment, categories)

    def _paced_bids(
        self, request: Request, profile: Profile, entries: list[AdEntry], decision: AdDecision
    ) -> list[Bid]:
        if not entries:
            return []
        day = utc_day(request.ts)
        budgets = {e.advertiser_id: e.daily_budget for e in entries}
        advertisers = sorted(budgets)
        rng = request_rng(self.config.seed, request.user_id, request.request_id)
        draws = rng.random(len(advertisers))
        for advertiser, u in zip(advertisers, draws, strict=True):
            budget = budgets[advertiser]
            spent = float(self.ledger.spend(advertiser, day))
            rate = self.pacer.pass_rate(spent, budget, request.ts)
            if u < rate:
                decision.pass_rates[advertiser] = rate
        entries = [e for e in entries if e.advertiser_id in decision.pass_rates]
        pctr, pcvr = self._rates(request, profile, entries)
        left = {a: float(self.ledger.remaining(a, day, budgets[a])) for a in decision.pass_rates}
        bids = []
        for entry, ctr, cvr in zip(entries, pctr.tolist(), pcvr.tolist(), strict=True):
            ad = entry.ad
            bid = make_bid(
                ad.ad_id,
                entry.advertiser_id,
                ad.bid_type,
                entry.amount,
                ctr,
                cvr,
                self.config.quality.score(ad.landing_quality),
                self.adjuster.adjustment(entry.advertiser_id),
            )
            worst = bid.bid if bid.billing == "click" else bid.bid / 1000.0
            if left[entry.advertiser_id] >= worst:  # it can pay even the worst case
                bids.append(bid)
        return bids

    def _rates(
        self, request: Request, profile: Profile, entries: list[AdEntry]
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.scorer is not None:
            return self.scorer.predict(request, profile, [e.ad.ad_id for e in entries])
        assert self.estimates is not None
        rates = [self.estimates.rates(e.ad.ad_id, e.advertiser_id) for e in entries]
        array = np.asarray(rates, dtype=np.float64).reshape(len(entries), 2)
        return array[:, 0], array[:, 1]

    def _candidate(self, charge: Charge, decision: AdDecision) -> Candidate:
        bid = charge.bid
        return Candidate(
            item_id=f"ad:{bid.ad_id}",
            score=bid.ecpm,
            channel="ads",
            predictions={"click": bid.pctr, "convert": bid.pctr * bid.pcvr},
            reasons=["sponsored", f"ads:{bid.bid_type.value}"],
            is_ad=True,
            ad_id=bid.ad_id,
            # the auction is deterministic; the pacing throttle is the only draw
            propensity=decision.pass_rates.get(bid.advertiser_id, 1.0),
        )

    # -- lookups -------------------------------------------------------------------------

    def _user(self, user_id: str) -> User | None:
        """The user's catalog row: given at construction, else read and kept ``USER_SECONDS``.

        Kept for a while, not for good: a long-running service meets millions of users (a
        dict of them all only grew) and a user's segment may change in the catalog.
        """
        if user_id in self.users:
            return self.users[user_id]
        catalog = self.catalog
        if catalog is None:
            return None
        return self._recent_users.read(user_id, lambda key: catalog.get(User, [key]).get(key))

    def _categories(self, content: Sequence[Candidate]) -> list[str | None]:
        missing = [c.item_id for c in content if c.item_id not in self.categories]
        if missing:
            found = self.catalog.get(Item, missing) if self.catalog is not None else {}
            for item_id in missing:
                item = found.get(item_id)
                self.categories[item_id] = item.category if item is not None else None
        return [self.categories[c.item_id] for c in content]

    # -- accounting ----------------------------------------------------------------------

    def charges(self, request_id: str) -> dict[str, Charge]:
        """What each ad of ``request_id``'s slate pays (``{}`` once forgotten)."""
        decision = self.decisions.get(request_id)
        return dict(decision.charges) if decision is not None else {}

    def decision(self, request_id: str) -> AdDecision | None:
        """The ads stage's record of ``request_id``: slots, charges and the reason."""
        return self.decisions.get(request_id)

    def _bill(self, advertiser_id: str, day: int, amount: Decimal) -> Decimal:
        budget = self.inventory.budget(advertiser_id) if self.inventory else 0.0
        billed = self.ledger.charge(advertiser_id, day, amount, budget)
        self.adjuster.observe(advertiser_id, spend=float(billed))
        return billed

    def record_click(self, request_id: str, ad_id: str, ts: float) -> Decimal:
        """Bill a click on a click-billed ad of ``request_id`` (once); return the amount."""
        decision = self.decisions.get(request_id)
        charge = decision.charges.get(ad_id) if decision is not None else None
        if decision is None or charge is None or charge.bid.billing != "click":
            return Decimal(0)
        if ad_id in decision.clicked:  # billed once
            return Decimal(0)
        decision.clicked.add(ad_id)
        return self._bill(charge.bid.advertiser_id, utc_day(ts), Decimal(str(charge.price)))

    def record_conversion(self, advertiser_id: str, conversions: float = 1.0) -> None:
        """Feed a conversion to the oCPM/oCPC controller."""
        self.adjuster.observe(advertiser_id, conversions=conversions)

    def update_bid_adjustments(self) -> dict[str, float]:
        """One controller step for every advertiser with optimised bids."""
        out: dict[str, float] = {}
        for entry in self.inventory.entries if self.inventory else []:
            if entry.ad.bid_type in (BidType.OCPM, BidType.OCPC) and entry.advertiser_id not in out:
                out[entry.advertiser_id] = self.adjuster.update(entry.advertiser_id, entry.amount)
        return out

    def accounting_events(
        self, request: Request, slate_items: Sequence[SlateItem], charges: Mapping[str, Charge]
    ) -> list[Event]:
        """Ad impression events of a served slate, for the EventLog (``charges``: :meth:`charges`).

        :func:`~ecorec.ads.pacing.impression_event` lists the ``extra`` fields.
        """
        events = []
        for item in slate_items:
            charge = charges.get(item.ad_id or "") if item.is_ad else None
            if charge is not None:
                events.append(impression_event(request, item.position, item.propensity, charge))
        return events
