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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PositiveInt

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, Item
from ecorec.core.profile import Profile
from ecorec.data.protocols import Catalog
from ecorec.features.entities import Entities
from ecorec.rerank.creator import CreatorLookup, content_quality
from ecorec.rerank.similarity import relevance

#: Relevance added before weighting, so a weight also moves the list's lowest-scored item.
FLOOR = 0.05


def position_exposure(positions: np.ndarray, depth: int) -> np.ndarray:
    """``1 / log2(1 + p)`` of 1-based ``positions``, 0 past ``depth``."""
    p = np.asarray(positions, dtype=np.float64)
    out: np.ndarray = np.where(p <= depth, 1.0 / np.log2(1.0 + p), 0.0)
    return out


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

    """

    group_by: str = "stage"
    merit: Literal["quality", "score"] = "quality"
    target_ratio: float = Field(0.8, gt=0.0, le=1.0)
    window: PositiveInt = 50
    depth: PositiveInt | None = None
    max_iter: PositiveInt = 30
    step: float = Field(2.0, gt=1.0)


class ExposureFairness(Component):
    """Calibrates scores per creator group until exposure is proportional to merit.

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
        super().__init__(config)
        self.lookup = CreatorLookup(entities)

    def attach(self, catalog: Catalog) -> None:
        """Read item and creator metadata from ``catalog`` at request time."""
        self.lookup.attach(catalog)

    def groups_and_merits(
        self, ranked: Sequence[Candidate]
    ) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Group, merit and relevance of each candidate (for tests and the benchmark)."""
        rows = self.lookup.rows([c.item_id for c in ranked])
        rel = relevance(np.array([c.score for c in ranked], dtype=np.float64))
        groups = [self._group(item, creator) for item, creator in rows]
        if self.config.merit == "score":
            return groups, rel.copy(), rel
        quality = [content_quality(item, creator) for item, creator in rows]
        merits = np.array([rel[k] if q is None else q for k, q in enumerate(quality)])
        return groups, np.clip(merits, 0.0, None), rel

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
        if len(window) < 2:
            return list(ranked)
        depth = cfg.depth or request.n
        groups, merits, rel = self.groups_and_merits(window)
        names = sorted({g for g in groups if g is not None})
        if len(names) < 2:
            return list(ranked)
        base = FLOOR + rel
        correction = _Correction(names, self.config.step)
        best_order, best_ratio, best_weights = np.arange(len(window)), -1.0, {}
        for _ in range(cfg.max_iter):
            weights = correction.weights()
            adjusted = base * np.array([weights.get(g, 1.0) if g else 1.0 for g in groups])
            order = np.argsort(-adjusted, kind="stable")
            positions = np.empty(len(window))
            positions[order] = np.arange(1, len(window) + 1)
            rates = group_rates(groups, merits, positions, depth)
            ratio = exposure_ratio(rates)
            if ratio > best_ratio + 1e-12:
                best_order, best_ratio, best_weights = order, ratio, weights
            if ratio >= cfg.target_ratio:
                break
            correction.update(rates)
        return self._apply(ranked, window, groups, best_order, best_weights, rel)

    def _apply(
        self,
        ranked: list[Candidate],
        window: list[Candidate],
        groups: list[str | None],
        order: np.ndarray,
        weights: dict[str, float],
        rel: np.ndarray,
    ) -> list[Candidate]:
        scores = np.array([c.score for c in window], dtype=np.float64)
        low, span = float(scores.min()), float(scores.max() - scores.min())
        for new, k in enumerate(order.tolist()):
            group = groups[k]
            weight = weights.get(group, 1.0) if group else 1.0
            if weight == 1.0 or not np.isfinite(span) or span == 0:
                continue
            window[k].score = low + span * ((FLOOR + rel[k]) * weight - FLOOR)
            if new < k:
                window[k].reasons.append(f"rerank:fairness({group})")
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
