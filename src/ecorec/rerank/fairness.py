"""Exposure fairness: per-group score calibration so equal merit earns equal exposure.

Ranking by predicted engagement hands attention to whoever the models know best; two items of
the same quality can get very different exposure because of their creator's group. This
re-ranker measures, per request, what each creator group gets (exposure) against what it
deserves (merit), and calibrates the groups' scores until the two are proportional within a
target ratio (after Singh & Joachims 2018, "Fairness of Exposure in Rankings").

Definitions, over the first ``window`` candidates of the incoming list:

- a candidate's **group** is its creator's stage (``group_by = "stage"``), its item category
  (``"category"``), or any other name read from ``Creator.attrs`` (``"region"``, ``"group"``);
  candidates without one take no part and keep their relative order;
- its **merit** is its content quality in [0, 1] (``merit = "quality"``: the item's, else the
  creator's, else its relevance) or its relevance, the min-max scaled ranking score
  (``"score"``);
- **exposure** of position ``p`` (1-based) is ``1 / log2(1 + p)`` for ``p <= depth`` (default
  ``request.n``: what this slate shows) and 0 below;
- group ``g``'s rate is ``rho_g = exposure_g / merit_g``, and the request's **exposure ratio**
  is ``min_g rho_g / max_g rho_g`` (1 is perfectly proportional).

Algorithm: iterative multiplicative correction inside the request. Every group starts with
weight 1; candidates are ordered by ``(floor + relevance) * weight[group]``; while the ratio
is below ``target_ratio`` and ``max_iter`` rounds remain, each group whose rate is below the
groups' geometric mean rate has its weight multiplied by a factor, each one above divided by
it (a group with no exposure counts as below). The factor starts at ``step`` and, per group,
is square-rooted whenever that group's direction reverses (sign-based steps, as in Rprop), so
the weights settle on the boundary between two orderings instead of jumping over it forever.
Weights are re-normalised so the smallest is 1 (calibration only lifts scores, so the window
stays above the rest of the list). The best ordering seen is kept: positions are discrete, so
a ratio may be out of reach (one item of a small group either takes a slot, over-exposing its
group, or none); then the closest one is served, never a failure.

Scores of calibrated candidates are rewritten (``low + range * ((floor + r) * w - floor)``) so
a later stage that reads scores sees the calibration, and candidates of a lifted group that
moved up carry ``rerank:fairness(<group>)``.

**User groups** (``user_group_by``, off by default): the same slate quality for every group of
users. The request's user group is ``request.context[user_group_by]`` when the caller sets it,
else the user's ``segment``, ``region`` or ``group``, or the key of ``User.attrs`` of that name
(users from the re-ranker's entities). Across requests the component keeps each user group's
running delivered quality (position-weighted mean content quality of the first ``depth``
slots, decayed with a half-life of ``user_half_life`` requests, in memory: it resets with the
process); a request whose group would otherwise end below ``user_target_ratio`` of the best
group's is served a blend of relevance and quality, with the smallest weight (at most
``user_max_lift``) that keeps its group within target (see :mod:`ecorec.rerank._exposure`).
The creator calibration then runs on the blended relevance; what the final order delivers is
what is recorded, so when the creator side moves quality down the user side makes it up on
the group's next requests. Candidates the blend moved up carry
``rerank:fairness(user:<group>)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from ecorec.core.component import ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank._exposure import (
    NOT_GROUPS,
    USER_FIELDS,
    UserQuality,
    blend,
    delivered_quality,
    position_exposure,
    smallest_lift,
)
from ecorec.rerank.creator import CreatorReranker, content_quality
from ecorec.rerank.similarity import relevance

__all__ = [
    "ExposureFairness",
    "FairnessConfig",
    "exposure_ratio",
    "group_rates",
    "position_exposure",
]

#: Relevance added before weighting, so a weight also moves the list's lowest-scored item.
FLOOR = 0.05


def group_rates(
    groups: Sequence[str | None], merits: np.ndarray, positions: np.ndarray, depth: int
) -> dict[str, float]:
    """Exposure per unit of merit of each group (candidates without a group are left out).

    Args:
        groups: group of each candidate, ``None`` for none.
        merits: merit of each candidate (>= 0).
        positions: 1-based position of each candidate.
        depth: positions that earn exposure.

    """
    exposure = position_exposure(positions, depth)
    rates: dict[str, float] = {}
    for group in dict.fromkeys(g for g in groups if g is not None):
        member = np.array([g == group for g in groups])
        merit = float(merits[member].sum())
        if merit > 0:
            rates[group] = float(exposure[member].sum()) / merit
    return rates


def exposure_ratio(rates: dict[str, float]) -> float:
    """``min / max`` of the group rates; 1.0 with fewer than two groups."""
    if len(rates) < 2:
        return 1.0
    high = max(rates.values())
    return min(rates.values()) / high if high > 0 else 1.0


class FairnessConfig(ComponentConfig):
    """Parameters of :class:`ExposureFairness`.

    Args:
        group_by: ``stage``, ``category``, or a key of ``Creator.attrs``.
        merit: ``quality`` (content quality, relevance where unknown) or ``score``.
        target_ratio: least ``min rho / max rho`` to reach.
        window: leading candidates calibrated (the rest keep their order, below them).
        depth: positions that earn exposure; ``None``: ``request.n``.
        max_iter: correction rounds at most.
        step: first correction factor of a group's weight (shrinks when it reverses).
        user_group_by: ``segment``, ``region``, ``group`` or a key of ``User.attrs``;
            ``None``: no user-side calibration (and no state kept).
        user_target_ratio: least delivered quality of a user group over the best group's.
        user_half_life: requests of a group after which a request weighs half in its mean.
        user_max_lift: largest weight quality may take from relevance in one request.

    """

    group_by: str = "stage"
    merit: Literal["quality", "score"] = "quality"
    target_ratio: float = Field(0.8, gt=0.0, le=1.0)
    window: PositiveInt = 50
    depth: PositiveInt | None = None
    max_iter: PositiveInt = 30
    step: float = Field(2.0, gt=1.0)
    user_group_by: str | None = None
    user_target_ratio: float = Field(0.8, gt=0.0, le=1.0)
    user_half_life: PositiveFloat = 100.0
    user_max_lift: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("user_group_by")
    @classmethod
    def _user_attribute(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value in NOT_GROUPS):
            raise ValueError(
                f"user_group_by={value!r} is not a user group: use one of "
                f"{', '.join(USER_FIELDS)} or a key of User.attrs"
            )
        return value


class ExposureFairness(CreatorReranker):
    """Calibrates scores per creator group until exposure is proportional to merit.

    With ``user_group_by`` set it also keeps, across requests, each user group's delivered
    quality within ``user_target_ratio`` of the best group's (state in memory, per process).

    Args:
        config: a :class:`FairnessConfig` or its dict.
        entities: item and creator metadata (tests); otherwise from :meth:`attach`.

    Example:
        >>> from ecorec.core.entities import Creator, CreatorStage
        >>> items = [Item(f"{c}{k}", c, quality=0.5) for c in "hn" for k in range(3)]
        >>> creators = [Creator("h", CreatorStage.HEAD), Creator("n", CreatorStage.NOVICE)]
        >>> fair = ExposureFairness({"target_ratio": 0.7},
        ...                         entities=Entities.of(items=items, creators=creators))
        >>> ranked = [Candidate(i.item_id, s, "popular") for s, i in zip(range(6, 0, -1), items)]
        >>> [c.item_id for c in fair(Request("u", n=2), Profile("u"), ranked)][:2]
        ['h0', 'n0']

    """

    name: ClassVar[str] = "fairness"
    Config: ClassVar[type[ComponentConfig]] = FairnessConfig
    config: FairnessConfig

    def __init__(
        self,
        config: FairnessConfig | dict[str, Any] | None = None,
        entities: Entities | None = None,
    ) -> None:
        super().__init__(config, entities)
        self.users = UserQuality(self.config.user_half_life)
        self._user_key_seen = self.config.user_group_by in USER_FIELDS

    def groups_and_merits(
        self, ranked: Sequence[Candidate]
    ) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Group, merit and relevance of each candidate (for tests and the benchmark)."""
        groups, quality, rel = self._describe(ranked)
        return groups, rel.copy() if self.config.merit == "score" else quality, rel

    def _describe(
        self, ranked: Sequence[Candidate]
    ) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Group, content quality (relevance where unknown) and relevance of each candidate."""
        rows = self.lookup.rows([c.item_id for c in ranked])
        rel = relevance(np.array([c.score for c in ranked], dtype=np.float64))
        groups = [self._group(item, creator) for item, creator in rows]
        known = [content_quality(item, creator) for item, creator in rows]
        quality = np.array([rel[k] if q is None else q for k, q in enumerate(known)])
        return groups, np.clip(quality, 0.0, None), rel

    def user_group(self, request: Request) -> str | None:
        """The request's user group: from its context, else from the user's row.

        Raises:
            ValueError: on the first request that can be checked, when ``user_group_by`` is
                neither a ``User`` field nor a key of the context or of any user's attrs.

        """
        key = self.config.user_group_by
        if key is None:
            return None
        value = request.context.get(key)
        entities = self.lookup.entities
        user = entities.user(request.user_id) if entities is not None else None
        if value is None and user is not None:
            value = getattr(user, key) if key in USER_FIELDS else user.attrs.get(key)
        if not self._user_key_seen:
            known = entities.users.values() if entities is not None else ()
            if value is None and all(key not in u.attrs for u in known):
                raise ValueError(
                    f"user_group_by={key!r}: no user has it and the request context does "
                    f"not set it; use one of {', '.join(USER_FIELDS)} or a key of User.attrs"
                )
            self._user_key_seen = True
        return None if value is None else str(value)

    def _group(self, item: Item | None, creator: Creator | None) -> str | None:
        key = self.config.group_by
        if key == "category":
            return item.category if item is not None else None
        if creator is None:
            return None
        if key == "stage":
            return str(creator.stage)
        value = creator.attrs.get(key)
        return None if value is None else str(value)

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        cfg = self.config
        window = ranked[: cfg.window]
        user_group = self.user_group(request)
        if not window or (len(window) < 2 and user_group is None):
            return list(ranked)
        depth = cfg.depth or request.n
        groups, quality, rel = self._describe(window)
        merits = quality if cfg.merit == "quality" else rel  # what the ranker said, unlifted
        lift = self._user_lift(user_group, rel, quality, depth)
        rel = blend(rel, quality, lift) if lift > 0 else rel
        order, weights = self._calibrate(groups, merits, rel, depth)
        if user_group is not None:
            self.users.record(user_group, delivered_quality(quality, order, depth))
        if lift == 0 and not weights:
            return list(ranked)
        label = f"user:{user_group}" if lift > 0 else None
        return self._apply(ranked, window, groups, order, weights, rel, label)

    def _user_lift(
        self, group: str | None, rel: np.ndarray, quality: np.ndarray, depth: int
    ) -> float:
        """Blend weight this request of ``group`` needs (0.0 when none or nothing is owed)."""
        if group is None or len(rel) < 2:
            return 0.0
        need = self.users.need(group, self.config.user_target_ratio)
        if need is None:
            return 0.0
        return smallest_lift(rel, quality, need, self.config.user_max_lift, depth)

    def _calibrate(
        self, groups: list[str | None], merits: np.ndarray, rel: np.ndarray, depth: int
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Order and creator-group weights; ``{}`` when there is nothing to calibrate."""
        cfg = self.config
        names = sorted({g for g in groups if g is not None})
        if len(names) < 2:
            return np.argsort(-rel, kind="stable"), {}
        base = FLOOR + rel
        correction = _Correction(names, self.config.step)
        best_order, best_ratio, best_weights = np.arange(len(rel)), -1.0, {}
        for _ in range(cfg.max_iter):
            weights = correction.weights()
            adjusted = base * np.array([weights.get(g, 1.0) if g else 1.0 for g in groups])
            order = np.argsort(-adjusted, kind="stable")
            positions = np.empty(len(rel))
            positions[order] = np.arange(1, len(rel) + 1)
            rates = group_rates(groups, merits, positions, depth)
            ratio = exposure_ratio(rates)
            if ratio > best_ratio + 1e-12:
                best_order, best_ratio, best_weights = order, ratio, weights
            if ratio >= cfg.target_ratio:
                break
            correction.update(rates)
        return best_order, best_weights

    def _apply(
        self,
        ranked: list[Candidate],
        window: list[Candidate],
        groups: list[str | None],
        order: np.ndarray,
        weights: dict[str, float],
        rel: np.ndarray,
        user_label: str | None = None,
    ) -> list[Candidate]:
        scores = np.array([c.score for c in window], dtype=np.float64)
        low, span = float(scores.min()), float(scores.max() - scores.min())
        for new, k in enumerate(order.tolist()):
            group = groups[k]
            weight = weights.get(group, 1.0) if group else 1.0
            if (weight == 1.0 and user_label is None) or not np.isfinite(span) or span == 0:
                continue
            window[k].score = low + span * ((FLOOR + rel[k]) * weight - FLOOR)
            if new < k and weight != 1.0:
                window[k].reasons.append(f"rerank:fairness({group})")
            if new < k and user_label is not None:
                window[k].reasons.append(f"rerank:fairness({user_label})")
        return [window[k] for k in order.tolist()] + ranked[len(window) :]


class _Correction:
    """Per-group log-weights moved toward the mean rate by sign, the step shrinking on reversal."""

    def __init__(self, groups: Sequence[str], step: float) -> None:
        self.log_weight = dict.fromkeys(groups, 0.0)
        self.delta = dict.fromkeys(groups, math.log(step))
        self.last = dict.fromkeys(groups, 0)

    def weights(self) -> dict[str, float]:
        """Current weights, the smallest re-normalised to 1."""
        low = min(self.log_weight.values())
        return {g: math.exp(w - low) for g, w in self.log_weight.items()}

    def update(self, rates: dict[str, float]) -> None:
        """One round: lift groups below the geometric mean rate, lower those above it."""
        positive = [r for r in rates.values() if r > 0]
        mean = math.exp(sum(math.log(r) for r in positive) / len(positive)) if positive else 1.0
        for group in self.log_weight:
            rate = rates.get(group)
            if rate is None:
                continue  # no merit in the window: nothing is owed
            direction = 1 if rate < mean else -1 if rate > mean else 0
            if direction and self.last[group] and direction != self.last[group]:
                self.delta[group] /= 2.0  # log step halves: the factor is square-rooted
            self.log_weight[group] += direction * self.delta[group]
            self.last[group] = direction or self.last[group]
