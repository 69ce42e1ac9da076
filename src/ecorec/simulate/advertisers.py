"""Simulated advertisers: a daily budget and a CPA target, and patience for a bad return.

Each advertiser of the catalog starts at its ``daily_budget``. Every day the simulator tells
it what it spent (impression and click charges) and what its ads brought (conversions and their
value). An advertiser whose realised CPA (spend / conversions; spend with no conversion counts
as a miss) stays above its target for ``patience`` days in a row cuts its budget by ``cut``
(never below ``floor`` of the original); one that beats its target for ``patience`` days
grows it back by ``grow``, up to the original. The new budgets go to the ads stage's inventory
the next day, so pacing spends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class AdvertiserParams(BaseModel):
    """How advertisers react to their return (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patience: int = Field(default=2, ge=1, description="days above target CPA before a cut")
    cut: float = Field(default=0.7, gt=0, le=1, description="budget kept after a cut")
    grow: float = Field(default=1.1, ge=1, description="budget growth after good days")
    floor: float = Field(default=0.1, ge=0, le=1, description="least share of the first budget")
    min_spend: float = Field(default=1.0, ge=0, description="spend below which a day is not judged")


@dataclass
class AdvertiserAgents:
    """Per-advertiser budgets, targets and return history; row ``a`` is ``ids[a]``."""

    ids: list[str]
    base_budget: np.ndarray
    target_cpa: np.ndarray
    params: AdvertiserParams
    budget: np.ndarray = field(init=False)
    bad_days: np.ndarray = field(init=False)
    good_days: np.ndarray = field(init=False)
    spend: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    conversions: np.ndarray = field(init=False)
    cuts: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.budget = self.base_budget.astype(float).copy()
        self.bad_days = np.zeros(n, np.int32)
        self.good_days = np.zeros(n, np.int32)
        self.spend = np.zeros(n)
        self.value = np.zeros(n)
        self.conversions = np.zeros(n)

    @classmethod
    def of(
        cls, advertisers: list[Any], params: AdvertiserParams, share: float = 1.0
    ) -> AdvertiserAgents:
        """From catalog advertisers; ``share`` scales budgets to one arm's share of traffic."""
        rows = sorted(advertisers, key=lambda a: a.advertiser_id)
        return cls(
            [a.advertiser_id for a in rows],
            np.array([float(a.daily_budget or 0.0) * share for a in rows]),
            np.array([float(a.target_cpa) if a.target_cpa else np.inf for a in rows]),
            params,
        )

    def end_day(self, spend: np.ndarray, conversions: np.ndarray, value: np.ndarray) -> list[int]:
        """Judge one day's return; return the rows whose budget was cut."""
        p = self.params
        self.spend += spend
        self.conversions += conversions
        self.value += value
        judged = spend >= p.min_spend
        cpa = np.where(conversions > 0, spend / np.maximum(conversions, 1e-9), np.inf)
        bad = judged & (cpa > self.target_cpa)
        good = judged & ~bad
        self.bad_days = np.where(bad, self.bad_days + 1, np.where(good, 0, self.bad_days))
        self.good_days = np.where(good, self.good_days + 1, np.where(bad, 0, self.good_days))
        cut = self.bad_days >= p.patience
        grow = self.good_days >= p.patience
        self.budget = np.where(
            cut, np.maximum(self.budget * p.cut, self.base_budget * p.floor), self.budget
        )
        self.budget = np.where(
            grow, np.minimum(self.budget * p.grow, self.base_budget), self.budget
        )
        self.bad_days[cut] = 0
        self.good_days[grow] = 0
        rows = np.flatnonzero(cut).tolist()
        self.cuts += len(rows)
        return rows

    def summary(self) -> dict[str, Any]:
        """Spend, value, ROI and budget cuts, for the run's JSON."""
        spend = float(self.spend.sum())
        return {
            "advertisers": len(self.ids),
            "spend": round(spend, 2),
            "conversions": int(self.conversions.sum()),
            "conversion_value": round(float(self.value.sum()), 2),
            "roi": round(float(self.value.sum()) / spend, 4) if spend > 0 else None,
            "budget_cuts": self.cuts,
            "budget_share_left": round(float(self.budget.sum() / self.base_budget.sum()), 4)
            if self.base_budget.sum() > 0
            else None,
        }
