"""Simulated users: the synthetic platform's users, given a memory that makes them come and go.

The generator's users (:mod:`ecorec.data.synthetic.latents`) have fixed interests and a fixed
activity rate. A simulation that runs for weeks needs users whose behaviour depends on what the
recommender did to them, so each agent adds state on top of the same latents:

- **interests drift**: each day ``theta <- (1 - drift) * theta + drift * fresh``, ``fresh`` a new
  draw from the user's group base measure (the generator's Dirichlet), so tastes wander but keep
  their scale;
- **fatigue**: every impression adds ``fatigue_gain * w`` to the fatigue of each topic of the
  item (``w`` its topic weight); effective interest is ``theta * exp(-fatigue_strength * f)``, so
  a feed that keeps showing one topic is clicked less and rejected more; fatigue decays by
  ``session_recovery`` between sessions and ``day_recovery`` overnight;
- **satisfaction**: an exponential average of session satisfaction (see
  :func:`ecorec.simulate.environment.request_utility`); tomorrow's expected sessions are the
  generator's activity times ``exp(return_slope * (s - reference_satisfaction))`` (clipped), so
  a well served user comes back more;
- **churn**: the generator's daily hazard ``churn_rate * (1 - day satisfaction)`` for users who
  came that day, plus certain churn after ``churn_patience`` active days in a row below
  ``churn_threshold``;
- **surveys**: with probability ``survey_rate`` per session a 0-10 answer (for NPS) of
  ``4 + 12 s + N(0, 2)``, rounded and clipped (a user at the reference satisfaction is a
  "passive", 7-8; well served users become promoters, badly served ones detractors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ecorec.data.synthetic.latents import group_bases


class UserParams(BaseModel):
    """How simulated users change from day to day (the module docstring gives the equations)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift: float = Field(default=0.03, ge=0, le=1, description="daily interest drift weight")
    fatigue_gain: float = Field(default=0.25, ge=0, description="fatigue per topic impression")
    fatigue_strength: float = Field(default=1.0, ge=0, description="interest lost per fatigue")
    session_recovery: float = Field(default=0.5, ge=0, le=1, description="fatigue kept per gap")
    day_recovery: float = Field(default=0.1, ge=0, le=1, description="fatigue kept overnight")
    repeat_penalty: float = Field(
        default=0.3, ge=0, le=1, description="affinity kept for an item shown again recently"
    )
    recent_memory: int = Field(default=64, ge=1, description="recent items a user remembers")
    satisfaction_memory: float = Field(
        default=0.3, gt=0, le=1, description="weight of the newest session in satisfaction"
    )
    reference_satisfaction: float = Field(default=0.3, ge=0, le=1)
    return_slope: float = Field(default=3.0, ge=0, description="activity response to satisfaction")
    max_activity_factor: float = Field(default=2.0, ge=1)
    churn_threshold: float = Field(default=0.1, ge=0, le=1)
    churn_patience: int = Field(default=4, ge=1, description="low days in a row before churn")
    survey_rate: float = Field(default=0.05, ge=0, le=1)


@dataclass
class UserAgents:
    """Per-user latent state as arrays (row ``u`` is user ``ids[u]``).

    ``interests`` rows sum to 1 over the world's topics; ``joined`` is when a user may first
    act; ``group`` indexes the generator's group base measures.
    """

    ids: list[str]
    interests: np.ndarray
    activity: np.ndarray
    payer: np.ndarray
    joined: np.ndarray
    group: np.ndarray
    params: UserParams
    alive: np.ndarray | None = None
    satisfaction: np.ndarray | None = None
    low_days: np.ndarray | None = None
    fatigue: np.ndarray | None = None
    recent: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, t = self.interests.shape
        if len(self.ids) != n or len(self.activity) != n:
            raise ValueError("users: ids, interests and activity must have one row per user")
        p = self.params
        self.alive = np.ones(n, bool) if self.alive is None else self.alive
        self.satisfaction = np.full(n, p.reference_satisfaction)
        self.low_days = np.zeros(n, np.int32)
        self.fatigue = np.zeros((n, t))
        self.recent = np.full((n, p.recent_memory), -1, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    # -- what a request sees ---------------------------------------------------------------

    def effective_interests(self, user: int) -> np.ndarray:
        """``theta * exp(-strength * fatigue)``: interests as dulled by what was just shown."""
        assert self.fatigue is not None
        dulled: np.ndarray = self.interests[user] * np.exp(
            -self.params.fatigue_strength * self.fatigue[user]
        )
        return dulled

    def seen_recently(self, user: int, items: np.ndarray) -> np.ndarray:
        """Which of ``items`` (rows) the user was shown among their last ``recent_memory``."""
        assert self.recent is not None
        return np.isin(items, self.recent[user])

    def shown(self, user: int, items: np.ndarray, topics: np.ndarray, weights: np.ndarray) -> None:
        """Remember a slate: its items, and the fatigue its topics add."""
        assert self.recent is not None and self.fatigue is not None
        items = items[items >= 0]
        k = min(len(items), self.recent.shape[1])
        if k:
            self.recent[user] = np.concatenate([self.recent[user][k:], items[-k:]])
        np.add.at(self.fatigue[user], topics.ravel(), self.params.fatigue_gain * weights.ravel())

    # -- between sessions and days ---------------------------------------------------------

    def end_session(self, user: int, satisfaction: float) -> None:
        """Fold one session's satisfaction in and let fatigue recover a little."""
        assert self.satisfaction is not None and self.fatigue is not None
        w = self.params.satisfaction_memory
        self.satisfaction[user] = (1 - w) * self.satisfaction[user] + w * satisfaction
        self.fatigue[user] *= self.params.session_recovery

    def survey(self, user: int, rng: np.random.Generator) -> float | None:
        """A 0-10 answer with probability ``survey_rate``, else None."""
        assert self.satisfaction is not None
        if rng.random() >= self.params.survey_rate:
            return None
        answer = round(4.0 + 12.0 * self.satisfaction[user] + rng.normal(0.0, 2.0))
        return float(min(10, max(0, answer)))

    def sessions(self, day_start: float, day_end: float, rng: np.random.Generator) -> np.ndarray:
        """Sessions of each user today: Poisson(activity x return factor) for live joined users."""
        assert self.alive is not None and self.satisfaction is not None
        p = self.params
        factor = np.clip(
            np.exp(p.return_slope * (self.satisfaction - p.reference_satisfaction)),
            0.0,
            p.max_activity_factor,
        )
        # a user who joins during the day has only part of it
        present = np.clip(
            (day_end - np.maximum(self.joined, day_start)) / (day_end - day_start), 0, 1
        )
        rate = self.activity * factor * present * self.alive
        counts: np.ndarray = rng.poisson(rate)
        return counts

    def end_day(
        self,
        day_satisfaction: np.ndarray,
        active: np.ndarray,
        churn_rate: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Churn, drift and overnight recovery; returns the users who churned today.

        Args:
            day_satisfaction: mean session satisfaction of each user today (ignored if inactive).
            active: users who had a session today.
            churn_rate: the generator's ``ResponseParams.churn_rate``.
            rng: the simulation's generator.

        """
        assert self.alive is not None and self.low_days is not None and self.fatigue is not None
        p = self.params
        low = active & (day_satisfaction < p.churn_threshold)
        self.low_days = np.where(active, np.where(low, self.low_days + 1, 0), self.low_days)
        hazard = np.where(active, churn_rate * (1.0 - np.clip(day_satisfaction, 0, 1)), 0.0)
        churned = self.alive & (
            (rng.random(len(self)) < hazard) | (self.low_days >= p.churn_patience)
        )
        self.alive &= ~churned
        if p.drift > 0:
            self.interests = drifted(self.interests, self.group, p.drift, rng)
        self.fatigue *= p.day_recovery
        return churned


def drifted(
    interests: np.ndarray, group: np.ndarray, drift: float, rng: np.random.Generator
) -> np.ndarray:
    """Mix each row with a fresh draw from its group's base measure (rows stay on the simplex)."""
    n_groups = int(group.max()) + 1 if len(group) else 1
    bases = _bases(n_groups, interests.shape[1])
    alpha = 0.3 * interests.shape[1] * bases[group]
    fresh = rng.standard_gamma(alpha) + 1e-12
    fresh /= fresh.sum(axis=1, keepdims=True)
    mixed: np.ndarray = (1 - drift) * interests + drift * fresh
    return mixed


def _bases(n_groups: int, n_topics: int) -> np.ndarray:
    """The generator's group base measures when the topic count matches, else uniform."""
    from ecorec.data.synthetic import PlatformSpec

    spec = PlatformSpec()
    if n_topics == len(spec.topics) and n_groups <= len(spec.population.groups):
        return group_bases(spec)
    return np.full((max(n_groups, 1), n_topics), 1.0 / n_topics)


def users_from_catalog(
    catalog_users: list[Any],
    topics: tuple[str, ...],
    n: int,
    seed: int,
    start: float,
    days: int,
    params: UserParams,
) -> UserAgents:
    """The first ``n`` users: the catalog's, then new ones from the generative model.

    The catalog keeps each user's activity, group, payer flag and top three topics, not the
    full interest vector; it is redrawn from the generator's Dirichlet and arranged so that
    its three largest shares fall on the catalog's three topics, in order. Users past the
    catalog's are drawn by :func:`~ecorec.data.synthetic.latents.make_user_block` and join
    uniformly over the simulated days (``sim-u...`` ids), so cold start is exercised too.
    """
    from ecorec.data.synthetic import PlatformSpec
    from ecorec.data.synthetic.latents import make_user_block

    rng = np.random.default_rng([seed, 41])
    index = {name: k for k, name in enumerate(topics)}
    group_names = list(PlatformSpec().population.groups)
    known = sorted(catalog_users, key=lambda u: u.user_id)[:n]
    n_topics = len(topics)
    bases = _bases(len(group_names), n_topics)
    ids, rows, activity, payer, joined, group = [], [], [], [], [], []
    for user in known:
        g = group_names.index(user.group) if user.group in group_names else 0
        raw = rng.standard_gamma(0.3 * n_topics * bases[g]) + 1e-12
        values = np.sort(raw / raw.sum())[::-1]
        top = [index[t] for t in (user.attrs.get("interests") or []) if t in index][:3]
        rest = [k for k in range(n_topics) if k not in top]
        order = np.array(top + list(rng.permutation(rest)), np.int64)
        theta = np.empty(n_topics)
        theta[order] = values
        ids.append(user.user_id)
        rows.append(theta)
        activity.append(float(user.activity) if user.activity is not None else 0.5)
        payer.append(bool(user.attrs.get("payer", False)))
        joined.append(min(float(user.created_at), start))
        group.append(g)
    extra = n - len(known)
    if extra > 0:
        spec = PlatformSpec(users=extra, seed=seed, days=days, topics=topics, user_block=extra)
        block = make_user_block(spec, 0)
        ids += [f"sim-u{k:07d}" for k in range(extra)]
        rows += list(block.interests.astype(np.float64))
        activity += block.activity.tolist()
        payer += block.payer.tolist()
        joined += (start + rng.random(extra) * days * 86_400.0).tolist()
        group += block.group.tolist()
    return UserAgents(
        ids=ids,
        interests=np.array(rows, float).reshape(len(ids), n_topics),
        activity=np.asarray(activity, float),
        payer=np.asarray(payer, bool),
        joined=np.asarray(joined, float),
        group=np.asarray(group, np.int64),
        params=params,
    )
