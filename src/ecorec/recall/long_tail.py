"""Long-tail recall: good items the platform has under-exposed, matched to the user's interests.

A feed ranked by engagement shows the same head items to everyone; good items that were never
shown much never get the data to prove themselves. This channel gives them a path.

At train time every live item gets an exposure count — its ``impression`` events when the data
has impressions, else its positive interactions (a rating table) — and the top ``head_share``
of items by exposure (the head: the top 20% by default; items tied with the last head item count
as head) is left out. Of the rest, the items whose quality reaches ``min_quality`` form the
pool, sorted by quality, one list per category and one overall. Quality is ``Item.quality``
when the catalog has it, else a Bayesian-smoothed positive rate / mean rating from the training
interactions turned into a percentile (see :mod:`.quality`).

A request splits ``n`` between the categories of the user's positive interests (profile
interests plus a survey in ``request.context["interests"]``) in proportion to their weights;
a user with none, or categories too short, get the overall list in quality order.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.lists import RankedLists, draw_by_interest, interest_weights
from ecorec.recall.metadata import item_entities
from ecorec.recall.quality import exposure, item_quality


class LongTailConfig(ComponentConfig):
    """Parameters of :class:`LongTailRecall`.

    Attributes:
        n: candidates per request.
        exclude_seen: skip items the user already consumed.
        head_share: share of items, by exposure, that is the head and never served here.
        min_quality: quality an item needs to be served (0-1; see :mod:`.quality`).
        list_size: items kept per category list and in the overall list.
        max_interests: strongest interests a request draws from.

    """

    n: int = Field(100, gt=0)
    exclude_seen: bool = True
    head_share: float = Field(0.2, ge=0, lt=1)
    min_quality: float = 0.5
    list_size: int = Field(2000, gt=0)
    max_interests: int = Field(10, gt=0)


class LongTailRecall(Component):
    """High-quality, under-exposed items by interest, else by quality.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.core.entities import Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Item(i, category="music", quality=q)
        ...              for i, q in [("hit", 0.9), ("gem", 0.8), ("meh", 0.1)]])
        3
        >>> table = pa.table({"user_id": ["u", "v"], "item_id": ["hit", "hit"]})
        >>> tail = LongTailRecall({"head_share": 0.3})
        >>> tail.train(TrainingData(catalog=catalog, table=table))
        >>> [c.item_id for c in tail(Request("x"), Profile("x"))]
        ['gem']

    """

    name = "long_tail"
    personalized = True
    Config = LongTailConfig
    config: LongTailConfig

    def __init__(self, config: LongTailConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.by_category = RankedLists.empty()
        self.overall = np.empty(0, dtype=np.int64)
        self.source = ""

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Count exposure, cut the head, keep the good tail items per category."""
        entities = item_entities(data)
        deleted = {i.item_id for i in entities if i.deleted}
        live = {i.item_id: i for i in entities if not i.deleted}
        interacted = [
            i
            for batch in data.interactions()
            for i in batch.column("item_id").unique().to_pylist()
            if i not in live and i not in deleted
        ]
        ids = np.asarray(list(live) + list(dict.fromkeys(interacted)), dtype=str)
        if not len(ids):
            raise ValueError("long_tail: no items and no interactions: the dataset is empty")
        counts, self.source = exposure(data, ids)
        quality = item_quality(data, ids, {i: item.quality for i, item in live.items()})
        pool = ~_head(counts, self.config.head_share) & (quality >= self.config.min_quality)
        index = np.flatnonzero(pool)
        categories = [live[i].category or "" if i in live else "" for i in ids[index].tolist()]
        limit = self.config.list_size
        self.by_category = RankedLists.build(categories, index, quality[index], limit)
        self.overall = RankedLists.build(["*"] * len(index), index, quality[index], limit).items
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
        drawn = draw_by_interest(
            self.item_ids, self.by_category, self.overall, interests, self.config.n, skip, self.name
        )
        name = self.name
        return [
            Candidate(item_id, score, name, [name], {}, [reason])
            for _, item_id, score, reason in drawn
        ]

    def save(self, folder: Path) -> dict[str, Any]:
        if self.item_ids is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "overall.npy", self.overall, allow_pickle=False)
        self.by_category.save(folder, "category")
        metrics = {
            "items": int(len(self.item_ids)),
            "pool": int(len(self.overall)),
            "exposure": self.source,
        }
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.overall = np.load(folder / "overall.npy", allow_pickle=False)
        self.by_category = RankedLists.load(folder, "category")
        self.source = json.loads((folder / "meta.json").read_text())["exposure"]
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)


def _head(counts: np.ndarray, share: float) -> np.ndarray:
    """Items in the top ``share`` by exposure; ties with the last head item are head too.

    Example:
        >>> _head(np.array([9.0, 5.0, 5.0, 1.0, 0.0]), 0.2).tolist()
        [True, False, False, False, False]
        >>> _head(np.array([0.0, 0.0, 3.0]), 0.9).tolist()
        [False, False, True]

    """
    k = math.ceil(share * len(counts))
    if k == 0:
        return np.zeros(len(counts), dtype=bool)
    threshold = np.sort(counts)[::-1][k - 1]
    # never-shown items are the tail by definition, even when the head share reaches them
    return np.asarray(counts >= max(threshold, np.nextafter(0.0, 1.0)))
