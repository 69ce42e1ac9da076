"""pCTR and pCVR per ad: the calibrated fallback learned from the EventLog.

Each ad's click rate is its empirical rate shrunk to its advertiser's, and the advertiser's to
the platform's, with Beta priors (empirical Bayes, as in the classic hierarchical CTR
smoothing of Wang et al. 2011):

    advertiser_ctr = (clicks_a + k * global_ctr) / (impressions_a + k)
    ad_ctr         = (clicks_i + k * advertiser_ctr) / (impressions_i + k)

with ``k = ctr_prior`` pseudo-impressions; the conversion rate per click likewise with
``k = cvr_prior`` pseudo-clicks. A new ad starts at its advertiser's rate and moves to its own
as impressions accrue; the posterior mean is the calibrated estimate of a Beta-Binomial model.

Hook for a trained model: anything with ``predict(request, profile, ad_ids) -> (pctr, pcvr)``
(:class:`AdScorer`) replaces this fallback in :class:`~ecorec.ads.reranker.AdsReranker` (pass
``scorer=``, or ``scorer = "esmm"`` in its config): :class:`~ecorec.ads.esmm_scorer.ESMMAdScorer`
is one, an ESMM trained on the logged ad impressions. This module is what serves when none is
trained (too few conversions to learn from).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from ecorec.core.component import ComponentConfig
from ecorec.core.contracts import Request
from ecorec.core.events import EventType
from ecorec.core.profile import Profile
from ecorec.data.protocols import EventLog

#: The file :meth:`AdEstimates.save` writes.
ESTIMATES_FILE = "ad_estimates.json"
_TYPES = (EventType.IMPRESSION, EventType.CLICK, EventType.CONVERSION)


class AdScorer(Protocol):
    """What replaces the fallback: pCTR and pCVR (per click) for ``ad_ids``."""

    def predict(
        self, request: Request, profile: Profile, ad_ids: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]: ...


class EstimatesConfig(ComponentConfig):
    """Priors of :class:`AdEstimates`.

    Args:
        ctr_prior: pseudo-impressions of the Beta prior on CTR.
        cvr_prior: pseudo-clicks of the Beta prior on CVR.
        default_ctr, default_cvr: the platform rates assumed before any ad event is logged.

    """

    ctr_prior: float = Field(default=200.0, gt=0.0)
    cvr_prior: float = Field(default=20.0, gt=0.0)
    default_ctr: float = Field(default=0.01, gt=0.0, lt=1.0)
    default_cvr: float = Field(default=0.05, gt=0.0, lt=1.0)


@dataclass
class Counts:
    """Impressions, clicks and conversions of one ad or advertiser."""

    impressions: float = 0.0
    clicks: float = 0.0
    conversions: float = 0.0

    def add(self, other: Counts) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.conversions += other.conversions


@dataclass
class AdEstimates:
    """Shrunk per-ad rates; unknown ads get their advertiser's, unknown advertisers the global.

    Example:
        >>> est = AdEstimates.fit({"a": Counts(1000, 30, 3)}, {"a": "x"}, EstimatesConfig())
        >>> round(est.ctr("a", "x"), 4), round(est.ctr("new", "x"), 4)  # 30 / 1000, shrunk
        (0.0299, 0.0294)

    """

    config: EstimatesConfig = field(default_factory=lambda: EstimatesConfig())
    global_ctr: float = 0.01
    global_cvr: float = 0.05
    advertiser_rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    ad_rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, Counts] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, counts: dict[str, Counts], owners: dict[str, str], config: EstimatesConfig
    ) -> AdEstimates:
        """Estimates from per-ad ``counts``; ``owners`` maps ad id -> advertiser id."""
        total = Counts()
        by_advertiser: dict[str, Counts] = {}
        for ad_id, c in counts.items():
            total.add(c)
            by_advertiser.setdefault(owners.get(ad_id, ""), Counts()).add(c)
        kc, kv = config.ctr_prior, config.cvr_prior
        # the platform rate itself gets a light prior so one lucky day cannot define it
        g_ctr = (total.clicks + kc * config.default_ctr) / (total.impressions + kc)
        g_cvr = (total.conversions + kv * config.default_cvr) / (total.clicks + kv)
        adv = {
            a: (
                _shrink(c.clicks, c.impressions, g_ctr, kc),
                _shrink(c.conversions, c.clicks, g_cvr, kv),
            )
            for a, c in by_advertiser.items()
            if a
        }
        ads = {}
        for ad_id, c in counts.items():
            p_ctr, p_cvr = adv.get(owners.get(ad_id, ""), (g_ctr, g_cvr))
            ads[ad_id] = (
                _shrink(c.clicks, c.impressions, p_ctr, kc),
                _shrink(c.conversions, c.clicks, p_cvr, kv),
            )
        return cls(config, g_ctr, g_cvr, adv, ads, dict(counts))

    def rates(self, ad_id: str, advertiser_id: str) -> tuple[float, float]:
        """``(pCTR, pCVR)`` of ``ad_id``: its own, else its advertiser's, else the platform's."""
        found = self.ad_rates.get(ad_id)
        if found is not None:
            return found
        return self.advertiser_rates.get(advertiser_id, (self.global_ctr, self.global_cvr))

    def ctr(self, ad_id: str, advertiser_id: str) -> float:
        return self.rates(ad_id, advertiser_id)[0]

    def save(self, folder: Path) -> dict[str, Any]:
        """Write ``ad_estimates.json``; return metrics for the registry manifest."""
        state = {
            "global": [self.global_ctr, self.global_cvr],
            "advertisers": {a: list(r) for a, r in self.advertiser_rates.items()},
            "ads": {a: list(r) for a, r in self.ad_rates.items()},
            "counts": {a: [c.impressions, c.clicks, c.conversions] for a, c in self.counts.items()},
        }
        (folder / ESTIMATES_FILE).write_text(json.dumps(state, sort_keys=True))
        return {
            "ads": len(self.ad_rates),
            "impressions": sum(c.impressions for c in self.counts.values()),
            "global_ctr": round(self.global_ctr, 6),
            "global_cvr": round(self.global_cvr, 6),
        }

    @classmethod
    def load(cls, folder: Path, config: EstimatesConfig) -> AdEstimates:
        state = json.loads((folder / ESTIMATES_FILE).read_text())
        g_ctr, g_cvr = state["global"]
        return cls(
            config,
            float(g_ctr),
            float(g_cvr),
            {a: (float(r[0]), float(r[1])) for a, r in state["advertisers"].items()},
            {a: (float(r[0]), float(r[1])) for a, r in state["ads"].items()},
            {a: Counts(*map(float, c)) for a, c in state["counts"].items()},
        )


def _shrink(successes: float, trials: float, prior_rate: float, strength: float) -> float:
    return (successes + strength * prior_rate) / (trials + strength)


def count_ad_events(events: EventLog, end: float | None = None) -> dict[str, Counts]:
    """Impressions, clicks and conversions per ad id, read in Arrow batches."""
    counts: dict[str, Counts] = {}
    names = {EventType.IMPRESSION: "impressions", EventType.CLICK: "clicks"}
    for batch in events.scan_batches(end=end, types=[str(t) for t in _TYPES]):
        batch = batch.filter(pc.is_valid(batch.column("ad_id")))
        if batch.num_rows == 0:
            continue
        grouped = pa.table({"ad_id": batch.column("ad_id"), "type": batch.column("type")})
        table = grouped.group_by(["ad_id", "type"]).aggregate([([], "count_all")])
        for ad_id, kind, n in zip(
            *(table.column(c).to_pylist() for c in ("ad_id", "type", "count_all")), strict=True
        ):
            c = counts.setdefault(ad_id, Counts())
            attr = names.get(EventType(kind), "conversions")
            setattr(c, attr, getattr(c, attr) + n)
    return counts
