"""Creator traffic: a boost by creator stage and content quality, a novice floor, a head cap.

A platform that only ranks by predicted engagement feeds the creators who already have an
audience: their items have the history the models learn from. Three levers push back, in this
order:

1. **Boost.** Each candidate's score gains ``spread * (stage_boost[stage] + quality_boost *
   quality)``, ``spread`` being the max - min of the list's scores, so the values in config
   are shares of the score range whatever the ranker's scale. Quality is the item's, else its
   creator's. A novice only gets its stage boost when its quality reaches ``min_quality``:
   the support is for good new work, not for any new work. The list is then re-sorted by the
   boosted score (stable), unless ``sort = false``, which keeps the incoming order (after a
   diversity stage) and leaves the boost in the scores only.
2. **Novice floor** (the cold-start traffic package). At least ``ceil(novice_share * n)`` of
   the first ``n`` slots go to novice creators at or above ``min_quality``: when fewer made
   it, the best-placed ones below ``n`` take the places of the lowest-placed others.
3. **Head cap.** At most ``floor(head_cap * n)`` of the first ``n`` slots hold head creators:
   the lowest-placed excess ones make way for the best-placed non-head candidates below ``n``
   (when there are none, the slate keeps them: a slate is never cut short).

Items promoted by the floor carry ``rerank:creator(novice_boost)`` (as does every boosted
novice item), those promoted by the cap ``rerank:creator(head_cap)``. Items without catalog
metadata are neither novice nor head and get no boost.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from itertools import repeat
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, CreatorStage, Item
from ecorec.core.profile import Profile
from ecorec.data.protocols import Catalog
from ecorec.features.entities import CatalogSnapshot, Entities, attached

NOVICE_BOOST = "rerank:creator(novice_boost)"
HEAD_CAP = "rerank:creator(head_cap)"

#: Creator stages in the order :meth:`CreatorLookup.traits` numbers them.
STAGES: list[CreatorStage] = list(CreatorStage)
_NOVICE = STAGES.index(CreatorStage.NOVICE)
_HEAD = STAGES.index(CreatorStage.HEAD)


class CreatorLookup:
    """Item and creator rows of candidates, from given entities or the attached catalog.

    Args:
        entities: the tables (tests); ``None`` until :meth:`attach` gives a catalog.

    """

    def __init__(self, entities: Entities | None = None) -> None:
        self.entities = entities
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()
        # per row: stage (index into STAGES, -1 none), quality (nan when none), has quality;
        # row 0 is an item not resolved yet
        self._traits = (np.array([-1]), np.array([np.nan]), np.array([False]))

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read items and creators from ``catalog`` (misses are looked up per request)."""
        self.entities = attached(self.entities, catalog, snapshot)
        creators = self.entities.creators
        self._add(
            {
                item_id: _traits(item, creators.get(item.creator_id) if item.creator_id else None)
                for item_id, item in self.entities.items.items()
                if not item.creator_id or item.creator_id in creators
            }
        )

    def rows(self, item_ids: Sequence[str]) -> list[tuple[Item | None, Creator | None]]:
        """``(item, creator)`` of each id; ``None`` where the catalog does not know it."""
        if self.entities is None:
            return [(None, None)] * len(item_ids)
        self.entities.prefetch_items(item_ids)
        out: list[tuple[Item | None, Creator | None]] = []
        for item_id in item_ids:
            item = self.entities.item(item_id)
            creator = self.entities.creator(item.creator_id) if item and item.creator_id else None
            out.append((item, creator))
        return out

    def traits(self, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Creator stage (index into :data:`STAGES`, -1: none), quality and has-quality of ids.

        :func:`content_quality` and the creator's stage per candidate, gathered from arrays
        cached per item: an item whose item and creator rows the catalog both had is resolved
        once; any other (unknown, or its creator not yet known) is read again on every call.
        """
        rows = np.fromiter(map(self._rows.get, item_ids, repeat(0)), np.int64, len(item_ids))
        stage, quality, known = (column[rows] for column in self._traits)
        unresolved = np.flatnonzero(rows == 0).tolist()
        if unresolved and self.entities is not None:
            missing = [item_ids[k] for k in unresolved]
            resolved: dict[str, tuple[int, float, bool]] = {}
            for k, item_id, (item, creator) in zip(
                unresolved, missing, self.rows(missing), strict=True
            ):
                stage[k], quality[k], known[k] = found = _traits(item, creator)
                if item is not None and (creator is not None or not item.creator_id):
                    resolved[item_id] = found
            if resolved:
                self._add(resolved)
        return stage, quality, known

    def _add(self, resolved: dict[str, tuple[int, float, bool]]) -> None:
        """Append rows for ``resolved`` items; the arrays before the ids, for readers."""
        with self._lock:
            fresh = {i: v for i, v in resolved.items() if i not in self._rows}
            if not fresh:
                return
            first = len(self._traits[0])
            stage, quality, known = self._traits
            codes, values, flags = zip(*fresh.values(), strict=True)
            self._traits = (
                np.concatenate([stage, np.asarray(codes, dtype=stage.dtype)]),
                np.concatenate([quality, np.asarray(values, dtype=np.float64)]),
                np.concatenate([known, np.asarray(flags, dtype=bool)]),
            )
            self._rows.update({i: first + k for k, i in enumerate(fresh)})


def _traits(item: Item | None, creator: Creator | None) -> tuple[int, float, bool]:
    """One row of :meth:`CreatorLookup.traits`: stage index, quality (nan: none), has quality."""
    value = content_quality(item, creator)
    code = STAGES.index(creator.stage) if creator is not None else -1
    return code, np.nan if value is None else value, value is not None


def content_quality(item: Item | None, creator: Creator | None) -> float | None:
    """The item's quality, else its creator's, else ``None``."""
    if item is not None and item.quality is not None:
        return float(item.quality)
    if creator is not None and creator.quality is not None:
        return float(creator.quality)
    return None


class CreatorReranker(Component):
    """Base of the re-rankers that read each candidate's creator (traffic, fairness).

    Args:
        config: the subclass's config or its dict.
        entities: item and creator metadata (tests); otherwise from :meth:`attach`.

    """

    def __init__(
        self,
        config: ComponentConfig | dict[str, Any] | None = None,
        entities: Entities | None = None,
    ) -> None:
        super().__init__(config)
        self.lookup = CreatorLookup(entities)

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read item and creator metadata from ``catalog`` at request time."""
        self.lookup.attach(catalog, snapshot)


class CreatorTrafficConfig(ComponentConfig):
    """Parameters of :class:`CreatorTraffic`.

    Args:
        stage_boost: creator stage -> boost, a share of the list's score range.
        quality_boost: weight of content quality (0-1) in the boost, same unit.
        min_quality: the quality a novice item needs for its boost and the floor.
        novice_share: least share of the first ``n`` slots for qualifying novice items.
        head_cap: most share of the first ``n`` slots for head creators (1: no cap).
        sort: re-sort by the boosted score; ``false`` keeps the incoming order.

    """

    stage_boost: dict[CreatorStage, float] = Field(
        default_factory=lambda: {CreatorStage.NOVICE: 0.1}
    )
    quality_boost: float = 0.0
    min_quality: float = 0.5
    novice_share: float = Field(0.1, ge=0.0, le=1.0)
    head_cap: float = Field(1.0, ge=0.0, le=1.0)
    sort: bool = True


class CreatorTraffic(CreatorReranker):
    """Boosts novice and good content, guarantees novices slots, caps head creators.

    Args:
        config: a :class:`CreatorTrafficConfig` or its dict.
        entities: item and creator metadata (tests); otherwise from :meth:`attach`.

    Example:
        >>> from ecorec.core.entities import Creator, CreatorStage, Item
        >>> items = [Item("h1", "h", quality=0.9), Item("h2", "h", quality=0.9),
        ...          Item("n1", "n", quality=0.8)]
        >>> creators = [Creator("h", CreatorStage.HEAD), Creator("n", CreatorStage.NOVICE)]
        >>> traffic = CreatorTraffic({"novice_share": 0.5, "stage_boost": {}},
        ...                          entities=Entities.of(items=items, creators=creators))
        >>> ranked = [Candidate(i, s, "popular") for i, s in [("h1", 3), ("h2", 2), ("n1", 1)]]
        >>> [c.item_id for c in traffic(Request("u", n=2), Profile("u"), ranked)]
        ['h1', 'n1', 'h2']

    """

    name: ClassVar[str] = "creator_traffic"
    Config: ClassVar[type[ComponentConfig]] = CreatorTrafficConfig
    config: CreatorTrafficConfig

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        if not ranked:
            return []
        cfg = self.config
        stage, quality, known = self.lookup.traits([c.item_id for c in ranked])
        novice = (stage == _NOVICE) & known & (quality >= cfg.min_quality)
        head = stage == _HEAD
        scores = np.array([c.score for c in ranked], dtype=np.float64)
        finite = scores[np.isfinite(scores)]
        spread = float(finite.max() - finite.min()) if len(finite) > 1 else 0.0
        spread = spread or 1.0  # equal scores: the boost alone orders them
        by_stage = np.array([cfg.stage_boost.get(s, 0.0) for s in STAGES] + [0.0])
        eligible = (stage >= 0) & ((stage != _NOVICE) | novice)
        boost = cfg.quality_boost * np.where(known, quality, 0.0)
        boost += np.where(eligible, by_stage[stage], 0.0)
        boosted_scores = np.where(boost != 0, scores + spread * boost, scores)
        new_scores = boosted_scores.tolist()
        for k in np.flatnonzero(boost).tolist():
            ranked[k].score = new_scores[k]
        for k in np.flatnonzero(novice & (boost > 0)).tolist():
            ranked[k].reasons.append(NOVICE_BOOST)
        order = list(range(len(ranked)))
        if cfg.sort:
            negated = (-boosted_scores).tolist()
            order.sort(key=negated.__getitem__)  # stable: ties keep their order
        m = min(request.n, len(ranked))
        least = math.ceil(cfg.novice_share * m - 1e-9)
        order = _floor(order, m, novice.tolist(), least, ranked)
        order = _cap(order, m, head.tolist(), math.floor(cfg.head_cap * m + 1e-9), ranked)
        return [ranked[k] for k in order]


def _floor(
    order: list[int], m: int, novice: list[bool], least: int, ranked: list[Candidate]
) -> list[int]:
    """Bring the best-placed qualifying novices below ``m`` into the first ``m`` slots."""
    top, tail = order[:m], order[m:]
    needed = least - sum(novice[k] for k in top)
    promote = [k for k in tail if novice[k]][: max(needed, 0)]
    others = [k for k in top if not novice[k]]
    demote = others[len(others) - len(promote) :] if promote else []
    for k in promote:
        if NOVICE_BOOST not in ranked[k].reasons:
            ranked[k].reasons.append(NOVICE_BOOST)
    return _swap(top, tail, promote, demote)


def _cap(
    order: list[int], m: int, head: list[bool], most: int, ranked: list[Candidate]
) -> list[int]:
    """Move the lowest-placed head items past ``most`` out of the first ``m`` slots."""
    top, tail = order[:m], order[m:]
    heads = [k for k in top if head[k]]
    excess = len(heads) - most
    promote = [k for k in tail if not head[k]][: max(excess, 0)]
    demote = heads[len(heads) - len(promote) :] if promote else []
    for k in promote:
        ranked[k].reasons.append(HEAD_CAP)
    return _swap(top, tail, promote, demote)


def _swap(top: list[int], tail: list[int], promote: list[int], demote: list[int]) -> list[int]:
    """``top`` without ``demote`` then ``promote``; then ``demote`` and the rest of ``tail``."""
    if not promote:
        return top + tail
    out, down = set(demote), set(promote)
    return [k for k in top if k not in out] + promote + demote + [k for k in tail if k not in down]
