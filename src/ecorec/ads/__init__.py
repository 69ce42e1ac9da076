"""Ads: targeting, estimates, a GSP auction with a dynamic floor, pacing and ad-load caps.

The accounting events the stage emits make revenue, eCPM, fill rate, CPC, CPA and ROAS
measurable from the EventLog.

The stage that runs them in the Pipeline is :class:`~ecorec.ads.reranker.AdsReranker`
(``"ads"`` in ``[pipeline.rerank] order``).
"""

from ecorec.ads.auction import Bid, Charge, FloorConfig, GSPAuction, QualityConfig, make_bid
from ecorec.ads.config import AdDecision, AdsConfig
from ecorec.ads.estimates import AdEstimates, AdScorer, Counts, EstimatesConfig
from ecorec.ads.load import LoadPolicy, ScenarioConfig, ad_positions, max_ads, slate_obeys
from ecorec.ads.pacing import BidAdjuster, BudgetPacer, PacingConfig, SpendLedger
from ecorec.ads.reranker import AdsReranker
from ecorec.ads.targeting import AdEntry, AdInventory

__all__ = [
    "AdDecision",
    "AdEntry",
    "AdEstimates",
    "AdInventory",
    "AdScorer",
    "AdsConfig",
    "AdsReranker",
    "Bid",
    "BidAdjuster",
    "BudgetPacer",
    "Charge",
    "Counts",
    "EstimatesConfig",
    "FloorConfig",
    "GSPAuction",
    "LoadPolicy",
    "PacingConfig",
    "QualityConfig",
    "ScenarioConfig",
    "SpendLedger",
    "ad_positions",
    "make_bid",
    "max_ads",
    "slate_obeys",
]
