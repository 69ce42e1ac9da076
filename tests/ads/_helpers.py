"""Small inventories and content lists shared by the ads tests."""

from __future__ import annotations

from ecorec.ads.estimates import AdEstimates, Counts, EstimatesConfig
from ecorec.ads.targeting import AdInventory
from ecorec.core.contracts import Candidate
from ecorec.core.entities import Ad, Advertiser, BidType

DAY0 = 1_717_200_000.0 - 1_717_200_000.0 % 86_400  # a UTC midnight


def inventory(
    advertisers: int = 3, ads_per: int = 2, budget: float = 1_000.0, bid_type=BidType.CPM
) -> AdInventory:
    owners = [
        Advertiser(f"adv{a}", daily_budget=budget, target_cpa=20.0) for a in range(advertisers)
    ]
    ads = [
        Ad(
            f"ad{a}-{k}",
            f"adv{a}",
            bid_type=bid_type,
            bid=5.0 + a + k,
            category=f"cat{(a + k) % 3}",
            landing_quality=0.5 + 0.1 * k,
        )
        for a in range(advertisers)
        for k in range(ads_per)
    ]
    return AdInventory.of(ads, owners)


def estimates(rate: tuple[float, float] = (0.02, 0.1)) -> AdEstimates:
    """Estimates where every ad has (about) ``rate``."""
    return AdEstimates(EstimatesConfig(), rate[0], rate[1])


def content(n: int, prefix: str = "i") -> list[Candidate]:
    return [Candidate(f"{prefix}{k}", float(n - k), "popular") for k in range(n)]


__all__ = ["DAY0", "Counts", "content", "estimates", "inventory"]
