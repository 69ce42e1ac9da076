"""Ad candidates by targeting: which ads may bid for a request.

The inventory is read once from the Catalog's ads and advertisers (a few thousand at most on
any platform this runs on), indexed by category, and checked for bad data as it is read: an ad
with a missing, zero, negative or non-finite bid (or target CPA, for optimised bids) or an
unknown advertiser is skipped and counted, never served.

Targeting, per ad, from ``Ad.attrs``: ``segments`` (user segments it may reach) and ``scenes``
(where it may show), both "everywhere" when absent. By category: when the user has interests,
ads of the user's top categories (and of the request's content) bid first; when none of those
exist, every ad that passes the segment and scene rules bids (broad match), so fill rate does
not collapse for a niche user. A user who withdrew ads-personalisation consent gets contextual
ads only: categories of the content on the slate, not their history.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ecorec.core.entities import Ad, Advertiser, BidType


@dataclass(frozen=True, slots=True)
class AdEntry:
    """An ad that passed the data checks, with what its bid needs from its advertiser.

    ``amount`` is the CPC or CPM bid, or the target CPA of an optimised bid.
    """

    ad: Ad
    advertiser_id: str
    amount: float
    daily_budget: float
    target_cpa: float | None
    segments: frozenset[str] | None
    scenes: frozenset[str] | None


def _amount(ad: Ad, advertiser: Advertiser) -> float | None:
    if ad.bid_type in (BidType.OCPM, BidType.OCPC):
        return ad.target_cpa if ad.target_cpa is not None else advertiser.target_cpa
    return ad.bid


def _names(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, Iterable):
        return frozenset(str(v) for v in value)
    return None


@dataclass
class AdInventory:
    """Active, valid ads by category; ``skipped`` counts the ones left out and why."""

    entries: list[AdEntry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    by_category: dict[str | None, list[AdEntry]] = field(default_factory=dict)
    _budgets: dict[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, ads: Iterable[Ad], advertisers: Iterable[Advertiser]) -> AdInventory:
        """Check and index ``ads``; bad ones are counted under ``skipped[reason]``.

        Example:
            >>> inv = AdInventory.of([Ad("a", "x", bid=-1.0), Ad("b", "x", bid=0.4)],
            ...                      [Advertiser("x", daily_budget=10.0)])
            >>> [e.ad.ad_id for e in inv.entries], dict(inv.skipped)
            (['b'], {'negative_bid': 1})

        """
        owners = {a.advertiser_id: a for a in advertisers}
        inventory = cls()
        for ad in ads:
            reason = inventory._add(ad, owners.get(ad.advertiser_id))
            if reason:
                inventory.skipped[reason] += 1
        return inventory

    def _add(self, ad: Ad, advertiser: Advertiser | None) -> str:
        if not ad.active:
            return "inactive"
        if advertiser is None:
            return "unknown_advertiser"
        amount = _amount(ad, advertiser)
        if amount is None or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            return "missing_bid"
        if amount < 0:
            return "negative_bid"
        if amount == 0:
            return "missing_bid"  # 0.0 is the schema default: nobody set a bid
        budget = advertiser.daily_budget
        if budget is None or not math.isfinite(budget) or budget <= 0:
            return "no_budget"
        entry = AdEntry(
            ad,
            advertiser.advertiser_id,
            float(amount),
            float(budget),
            advertiser.target_cpa,
            _names(ad.attrs.get("segments")),
            _names(ad.attrs.get("scenes")),
        )
        self.entries.append(entry)
        self._budgets[entry.advertiser_id] = entry.daily_budget
        self.by_category.setdefault(ad.category, []).append(entry)
        return ""

    def budget(self, advertiser_id: str) -> float:
        """The daily budget of ``advertiser_id`` (0 when it has no valid ad)."""
        return self._budgets.get(advertiser_id, 0.0)

    def budgets(self) -> dict[str, float]:
        """Advertiser id -> daily budget, for the spend ledger."""
        return dict(self._budgets)

    def candidates(
        self, scene: str, segment: str | None, categories: Sequence[str] = ()
    ) -> list[AdEntry]:
        """Ads that may bid: allowed in ``scene`` and for ``segment``, matched on category.

        Ads of ``categories`` (the user's interests, then the content's) come first; when none
        of them is eligible, every eligible ad is returned (broad match).
        """
        wanted = [c for c in dict.fromkeys(categories) if c in self.by_category]
        pool: Iterable[AdEntry] = (
            (e for c in wanted for e in self.by_category[c]) if wanted else self.entries
        )
        matched = [e for e in pool if _eligible(e, scene, segment)]
        if matched or not wanted:
            return matched
        return [e for e in self.entries if _eligible(e, scene, segment)]


def _eligible(entry: AdEntry, scene: str, segment: str | None) -> bool:
    if entry.scenes is not None and scene not in entry.scenes:
        return False
    return entry.segments is None or (segment is not None and segment in entry.segments)
