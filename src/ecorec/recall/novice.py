"""Novice-creator recall: fresh items of creators in the novice stage, matched to interests.

The exclusive channel that gives new creators their cold-start traffic: engagement-ranked
channels cannot find a creator nobody has seen, so a platform that wants new supply reserves a
quota for it here. At train time the pool is every live item whose creator is in the novice
stage (``Creator.stage`` in the catalog), created within ``max_age_days`` before the reference
time (``data.now()``: the end of the training data; items published after it are fresh too),
with quality at least ``min_quality`` (``Item.quality``, else derived: :mod:`.quality`), sorted
by quality, one list per category and one overall.

Freshness is judged at the training reference time because the channel is retrained on the
platform's schedule; with ``age_at_request`` a live service also ages items against
``request.ts`` (an item older than ``max_age_days``, or not yet published, is skipped).

A request splits ``n`` between the categories of the user's positive interests, falling back to
quality order; every candidate's reasons start with ``novice_creator``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.lists import RankedLists, draw_by_interest, interest_weights
from ecorec.recall.metadata import has_interactions, item_entities, live_items, novice_creators
from ecorec.recall.quality import item_quality

_DAY = 86_400.0


class NoviceCreatorConfig(ComponentConfig):
    """Parameters of :class:`NoviceCreatorRecall`.

    Attributes:
        n: candidates per request.
        exclude_seen: skip items the user already consumed.
        max_age_days: an item older than this at the reference time is not fresh.
        min_quality: quality an item needs (0-1).
        age_at_request: also age items against ``request.ts`` (see the module docstring).
        list_size: items kept per category list and in the overall list.
        max_interests: strongest interests a request draws from.

    """

    n: int = Field(50, gt=0)
    exclude_seen: bool = True
    max_age_days: float = Field(14.0, gt=0)
    min_quality: float = 0.3
    age_at_request: bool = False
    list_size: int = Field(2000, gt=0)
    max_interests: int = Field(10, gt=0)


class NoviceCreatorRecall(Component):
    """Fresh, good-enough items of novice creators, by interest, else by quality.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.core.entities import Creator, CreatorStage, Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Creator("new", stage=CreatorStage.NOVICE),
        ...              Creator("star", stage=CreatorStage.HEAD),
        ...              Item("a", creator_id="new", quality=0.9, created_at=100.0),
        ...              Item("b", creator_id="star", quality=0.9, created_at=100.0)])
        4
        >>> table = pa.table({"user_id": ["u"], "item_id": ["b"], "timestamp": [100.0]})
        >>> novice = NoviceCreatorRecall()
        >>> novice.train(TrainingData(catalog=catalog, table=table))
        >>> [(c.item_id, c.reasons[0]) for c in novice(Request("x"), Profile("x"))]
        [('a', 'novice_creator')]

    """

    name = "novice_creator"
    personalized = True
    Config = NoviceCreatorConfig
    config: NoviceCreatorConfig

    def __init__(self, config: NoviceCreatorConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.creators = np.empty(0, dtype=str)
        self.created_at = np.empty(0)
        self.by_category = RankedLists.empty()
        self.overall = np.empty(0, dtype=np.int64)
        self.reference = 0.0

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Keep the fresh items of novice creators that pass the quality bar."""
        items = live_items(item_entities(data))
        has_events = has_interactions(data)
        if not items and not has_events:
            raise ValueError("novice_creator: no items and no interactions: the dataset is empty")
        self.reference = data.now() if has_events else 0.0
        oldest = self.reference - self.config.max_age_days * _DAY
        novices = novice_creators(data)
        fresh = [i for i in items if i.creator_id in novices and i.created_at >= oldest]
        ids = np.asarray([i.item_id for i in fresh], dtype=str)
        quality = item_quality(data, ids, {i.item_id: i.quality for i in fresh})
        index = np.flatnonzero(quality >= self.config.min_quality)
        limit = self.config.list_size
        categories = [fresh[k].category or "" for k in index.tolist()]
        self.by_category = RankedLists.build(categories, index, quality[index], limit)
        self.overall = RankedLists.build(["*"] * len(index), index, quality[index], limit).items
        self.creators = np.asarray([i.creator_id or "" for i in fresh], dtype=str)
        self.created_at = np.asarray([i.created_at for i in fresh], dtype=float)
        self.item_ids = ids

    def is_trained(self) -> bool:
        return self.item_ids is not None

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.item_ids is None:
            raise NotTrainedError(self)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        interests = interest_weights(
            profile.interests, request.context.get("interests"), self.config.max_interests
        )
        accept = None
        if self.config.age_at_request and request.ts > 0:
            created, now = self.created_at, request.ts
            oldest = now - self.config.max_age_days * _DAY

            def accept(index: int) -> bool:
                return bool(oldest <= created[index] <= now)

        drawn = draw_by_interest(
            self.item_ids,
            self.by_category,
            self.overall,
            interests,
            self.config.n,
            skip,
            self.name,
            accept,
        )
        name = self.name
        creators = self.creators[[index for index, _, _, _ in drawn]].tolist()
        return [
            Candidate(item_id, score, name, [name], {}, [name, reason, f"creator:{creator}"])
            for (_, item_id, score, reason), creator in zip(drawn, creators, strict=True)
        ]

    def save(self, folder: Path) -> dict[str, Any]:
        if self.item_ids is None:
            raise NotTrainedError(self)
        for name in ("item_ids", "creators", "created_at", "overall"):
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        self.by_category.save(folder, "category")
        metrics = {"items": int(len(self.overall)), "reference": self.reference}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        for name in ("creators", "created_at", "overall"):
            setattr(self, name, np.load(folder / f"{name}.npy", allow_pickle=False))
        self.by_category = RankedLists.load(folder, "category")
        self.reference = float(json.loads((folder / "meta.json").read_text())["reference"])
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
