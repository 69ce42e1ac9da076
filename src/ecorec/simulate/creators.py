"""Simulated creators: publish more when the platform pays attention, quit when it does not.

Each agent starts from a creator of the synthetic platform (stage, quality, focus topic, output
rate; :func:`ecorec.data.synthetic.latents.make_creators` for ones the catalog lacks) and each
day:

- **publishes** ``Poisson(output_rate * motivation)`` items, drawn like the generator's items
  (main topic the focus with probability ``focus_share``, quality around the creator's,
  log-normal duration);
- **updates motivation**: ``m <- (1 - rho) m + rho * clip(sqrt(signal), 0.2, 3)``, where
  ``signal`` is the creator's exposure relative to the mean live creator's, averaged with the
  same ratio for income (tips and subscriptions) when anyone earned any;
- **moves up a stage** (novice -> mid -> head) when its exposure ratio, averaged over the last
  ``stage_window`` days, reaches ``mid_ratio`` / ``head_ratio``;
- **quits** after ``quit_patience`` days in a row of starvation: an exposure ratio below
  ``starve_ratio`` and no income.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

STAGES = ("novice", "mid", "head")


class CreatorParams(BaseModel):
    """How creators respond to exposure and income (equations in the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    motivation_rate: float = Field(default=0.3, gt=0, le=1, description="rho")
    mid_ratio: float = Field(default=2.0, gt=0)
    head_ratio: float = Field(default=6.0, gt=0)
    stage_window: int = Field(default=7, ge=1)
    starve_ratio: float = Field(default=0.05, ge=0)
    quit_patience: int = Field(default=7, ge=1)


@dataclass
class CreatorAgents:
    """Per-creator state as arrays; row ``c`` is creator ``ids[c]``."""

    ids: list[str]
    stage: np.ndarray
    quality: np.ndarray
    focus: np.ndarray
    output_rate: np.ndarray
    params: CreatorParams
    motivation: np.ndarray = field(init=False)
    alive: np.ndarray = field(init=False)
    starved_days: np.ndarray = field(init=False)
    history: list[np.ndarray] = field(init=False, default_factory=list)
    promotions: int = field(init=False, default=0)
    published: int = field(init=False, default=0)
    income: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.motivation = np.ones(n)
        self.alive = np.ones(n, bool)
        self.starved_days = np.zeros(n, np.int32)
        self.income = np.zeros(n)

    def __len__(self) -> int:
        return len(self.ids)

    def copy(self) -> CreatorAgents:
        """An independent copy (each policy arm has its own creators)."""
        return CreatorAgents(
            list(self.ids),
            self.stage.copy(),
            self.quality.copy(),
            self.focus.copy(),
            self.output_rate.copy(),
            self.params,
        )

    def to_publish(self, rng: np.random.Generator) -> np.ndarray:
        """How many items each creator publishes today."""
        counts: np.ndarray = rng.poisson(self.output_rate * self.motivation * self.alive)
        return counts

    def end_day(self, exposure: np.ndarray, income: np.ndarray) -> dict[str, list[int]]:
        """Fold one day's exposure (impressions) and income in; return who moved or quit.

        Returns:
            ``{"promoted": [...], "quit": [...]}``, creator rows.

        """
        p = self.params
        live = self.alive
        ratio = _ratio(exposure, live)
        money = _ratio(income, live) if income[live].sum() > 0 else None
        signal = ratio if money is None else (ratio + money) / 2
        target = np.clip(np.sqrt(signal), 0.2, 3.0)
        self.motivation = np.where(
            live, (1 - p.motivation_rate) * self.motivation + p.motivation_rate * target, 0.0
        )
        self.income += income
        self.history = [*self.history[-(p.stage_window - 1) :], ratio]
        mean = np.mean(self.history, axis=0)
        old = self.stage.copy()
        full = len(self.history) >= p.stage_window
        if full:
            self.stage = np.where(live & (self.stage == 0) & (mean >= p.mid_ratio), 1, self.stage)
            self.stage = np.where(live & (self.stage == 1) & (mean >= p.head_ratio), 2, self.stage)
        promoted = np.flatnonzero(self.stage != old)
        self.promotions += len(promoted)
        starving = live & (ratio < p.starve_ratio) & (income <= 0)
        self.starved_days = np.where(starving, self.starved_days + 1, 0)
        quit_ = live & (self.starved_days >= p.quit_patience)
        self.alive = live & ~quit_
        self.motivation[quit_] = 0.0
        return {"promoted": promoted.tolist(), "quit": np.flatnonzero(quit_).tolist()}

    def summary(self) -> dict[str, Any]:
        """Retention, stage mix, promotions and output, for the run's JSON."""
        n = max(len(self), 1)
        stages = {
            name: int(((self.stage == k) & self.alive).sum()) for k, name in enumerate(STAGES)
        }
        return {
            "creators": len(self),
            "creator_retention": float(self.alive.sum() / n),
            "quit": int((~self.alive).sum()),
            "stages_alive": stages,
            "promotions": self.promotions,
            "published": self.published,
            "income": round(float(self.income.sum()), 2),
            "mean_motivation": round(float(self.motivation[self.alive].mean()), 4)
            if self.alive.any()
            else 0.0,
        }


def _ratio(values: np.ndarray, live: np.ndarray) -> np.ndarray:
    """``values`` over their mean among live creators (0 where nobody got anything)."""
    mean = values[live].mean() if live.any() else 0.0
    out: np.ndarray = values / mean if mean > 0 else np.zeros(len(values))
    return out


def creators_from_catalog(
    catalog_creators: list[Any], topics: tuple[str, ...], n: int, seed: int, params: CreatorParams
) -> CreatorAgents:
    """The first ``n`` creators: the catalog's (by id), then new ones from the generative model.

    New creators get ``sim-c...`` ids; the caller writes them to the catalog.
    """
    from ecorec.data.synthetic import PlatformSpec
    from ecorec.data.synthetic.latents import make_creators

    index = {name: k for k, name in enumerate(topics)}
    known = sorted(catalog_creators, key=lambda c: c.creator_id)[:n]
    rate_of = PlatformSpec().population.stage_output
    ids = [c.creator_id for c in known]
    stage = [STAGES.index(str(c.stage)) if str(c.stage) in STAGES else 0 for c in known]
    quality = [c.quality if c.quality is not None else 0.5 for c in known]
    focus = [index.get(c.category or "", 0) for c in known]
    rate = [
        c.output_rate if c.output_rate is not None else rate_of[s]
        for c, s in zip(known, stage, strict=True)
    ]
    extra = n - len(known)
    if extra > 0:
        spec = PlatformSpec(creators=extra, seed=seed, topics=topics)
        made = make_creators(spec)
        ids += [f"sim-c{k:05d}" for k in range(extra)]
        stage += made.stage.tolist()
        quality += made.quality.astype(float).tolist()
        focus += made.focus.tolist()
        rate += made.output_rate.tolist()
    return CreatorAgents(
        ids,
        np.asarray(stage, np.int64),
        np.asarray(quality, float),
        np.asarray(focus, np.int64),
        np.asarray(rate, float),
        params,
    )
