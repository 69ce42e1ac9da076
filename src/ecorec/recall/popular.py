"""Popular recall: time-decayed popularity overall, per category and per user segment.

The channel every platform keeps: it serves brand-new users, users without personalisation
consent, and is the last fallback when the personalised channels are missing. Decay keeps it
"trending" rather than "all-time": an interaction ``half_life_days`` old weighs half.

Three lists are learned (``mode`` picks or mixes them):

* ``all``: one list over the whole catalog; a candidate's score is its decayed count.
* ``category``: one decayed list per item category; a request draws from the lists of the
  user's positive interests (``profile.interests`` plus a cold-start survey in
  ``request.context["interests"]``) in proportion to their weights, and from the overall list
  when the user has none.
* ``segment``: one decayed list per user segment (``request.context["segment"]``, else the
  segment of the user entity seen at training): what people like this user watch.

A mix (``mode = {"all" = 0.2, "category" = 0.5, "segment" = 0.3}``) splits ``n`` between
them. Outside ``all``, scores are the proportional interleave of :func:`.lists.draw` (so a merge
quota smaller than ``n`` keeps the mix) and ``reasons`` name the list (``popular:category:music``).

The channel is not personalised (the Pipeline calls it for every user), so it honours consent
itself: for a user who withdrew personalisation it reads neither the profile's interests nor
the segment learned from their account, only what the request states (survey, segment).
"""

from __future__ import annotations

import json
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Consent, Profile
from ecorec.data.training import TrainingData
from ecorec.recall.lists import (
    RankedLists,
    Source,
    allocate,
    draw,
    interest_weights,
    unskipped,
)
from ecorec.recall.metadata import SegmentTable, item_entities, live_items, user_segments

_DAY = 86_400.0
Mode = Literal["all", "category", "segment"]


class PopularConfig(ComponentConfig):
    """Parameters of :class:`PopularRecall`.

    Attributes:
        n: candidates per request.
        half_life_days: an interaction this old weighs half (0 = no decay).
        exclude_seen: skip what the user already consumed, so the quota is not spent on items
            merge would drop anyway.
        mode: ``"all"``, ``"category"``, ``"segment"``, or a mix ``{mode: weight}``.
        list_size: entries kept per category / segment list (the overall list keeps all).
        max_interests: most interest categories one request draws from (keeps it O(n)).

    """

    n: int = Field(500, gt=0)
    half_life_days: float = Field(7.0, ge=0)
    exclude_seen: bool = True
    mode: Mode | dict[Mode, float] = "all"
    list_size: int = Field(1000, gt=0)
    max_interests: int = Field(10, gt=0)

    @field_validator("mode")
    @classmethod
    def _weights(cls, value: Mode | dict[Mode, float]) -> Mode | dict[Mode, float]:
        if isinstance(value, dict) and (
            not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0
        ):
            raise ValueError("a mode mix needs non-negative weights with a positive sum")
        return value

    def weights(self) -> dict[str, float]:
        """The mode as ``{mode: weight}``."""
        if isinstance(self.mode, str):
            return {self.mode: 1.0}
        return {str(mode): weight for mode, weight in self.mode.items()}


class PopularRecall(Component):
    """Top items by decayed positive-interaction count, overall, per category or per segment.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "b", "b"], "item_id": ["x", "x", "y"],
        ...                   "rating": [5.0, 4.0, 3.0], "timestamp": [0.0, 0.0, 0.0]})
        >>> popular = PopularRecall({"n": 2})
        >>> popular.train(TrainingData(table=table))
        >>> [c.item_id for c in popular(Request("new"), Profile("new"))]
        ['x', 'y']

    """

    name = "popular"
    personalized = False
    Config = PopularConfig
    config: PopularConfig

    def __init__(self, config: PopularConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.scores: np.ndarray | None = None
        self.categories = RankedLists.empty()
        self.segment_lists = RankedLists.empty()
        self.segments = SegmentTable()
        self._all: np.ndarray | None = None

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Weigh every positive interaction by its age at ``data.now()`` and build the lists."""
        items, users, weights = self._interactions(data)
        item_codes = pc.dictionary_encode(items).combine_chunks()
        rows = item_codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        ids = np.asarray(item_codes.dictionary.to_pylist(), dtype=str)
        sums = np.bincount(rows, weights=weights, minlength=len(ids))
        entities = item_entities(data)
        # the catalog says which items are deleted: they are not indexed at all
        deleted = np.isin(ids, [i.item_id for i in entities if i.deleted])
        order = np.lexsort((ids, -sums))
        order = order[~deleted[order]]
        rank = np.full(len(ids), -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        self.item_ids, self.scores = ids[order], sums[order]
        modes = self.config.weights()
        self.categories = RankedLists.empty()
        if modes.get("category", 0) > 0:
            self.categories = self._category_lists(entities)
        self.segment_lists, self.segments = RankedLists.empty(), SegmentTable()
        if modes.get("segment", 0) > 0:
            self.segments = SegmentTable(user_segments(data))
            self.segment_lists = self._segment_lists(users, rank[rows], weights)

    def _interactions(self, data: TrainingData) -> tuple[pa.ChunkedArray, pa.ChunkedArray, Any]:
        now = data.now()
        items, users, weights = [], [], []
        for batch in data.interactions():
            if not batch.num_rows:
                continue
            items.append(batch.column("item_id"))
            users.append(batch.column("user_id"))
            if self.config.half_life_days > 0:
                age = now - batch.column("ts").to_numpy(zero_copy_only=False)
                decay = self.config.half_life_days * _DAY
                weights.append(np.exp2(-np.maximum(age, 0.0) / decay))
            else:
                weights.append(np.ones(batch.num_rows))
        if not weights:
            raise ValueError(
                "popular: no positive interactions to learn from (ingest or generate data first)"
            )
        flat = [chunk for column in items for chunk in column.chunks]
        flat_users = [chunk for column in users for chunk in column.chunks]
        return (
            pa.chunked_array(flat, pa.string()),
            pa.chunked_array(flat_users, pa.string()),
            np.concatenate(weights),
        )

    def _category_lists(self, entities: list[Item]) -> RankedLists:
        assert self.item_ids is not None and self.scores is not None
        category = {i.item_id: i.category or "" for i in live_items(entities)}
        # an item without catalog metadata has no category list
        keys = [category.get(i, "") for i in self.item_ids.tolist()]
        return RankedLists.build(
            keys, np.arange(len(self.item_ids)), self.scores, self.config.list_size
        )

    def _segment_lists(
        self, users: pa.ChunkedArray, item_rank: np.ndarray, weights: np.ndarray
    ) -> RankedLists:
        user_codes = pc.dictionary_encode(users).combine_chunks()
        names = sorted(set(self.segments.segments.values()))
        if not names:
            return RankedLists.empty()
        code = {name: k for k, name in enumerate(names)}
        per_user = np.array(
            [
                code.get(self.segments.segments.get(u, ""), -1)
                for u in user_codes.dictionary.to_pylist()
            ],
            dtype=np.int64,
        )
        segment = per_user[user_codes.indices.to_numpy(zero_copy_only=False)]
        known = (segment >= 0) & (item_rank >= 0)
        pairs = segment[known] * len(item_rank) + item_rank[known]
        unique, inverse = np.unique(pairs, return_inverse=True)
        sums = np.bincount(inverse, weights=weights[known])
        keys = np.asarray(names, dtype=str)[unique // len(item_rank)]
        return RankedLists.build(keys, unique % len(item_rank), sums, self.config.list_size)

    def is_trained(self) -> bool:
        return self.item_ids is not None

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.item_ids is None or self.scores is None:
            raise NotTrainedError(self)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        n, modes = self.config.n, self.config.weights()
        if set(modes) == {"all"}:
            return self._overall(skip, n)
        quotas = allocate(modes, n)
        sources: list[Source] = []
        consent = profile.allows(Consent.PERSONALIZATION)
        if quotas.get("category"):
            interests = interest_weights(
                profile.interests if consent else {},
                request.context.get("interests"),
                self.config.max_interests,
            )
            known = {c: w for c, w in interests.items() if c in self.categories}
            for category, quota in allocate(known, quotas["category"]).items():
                items, _ = self.categories.get(category)
                sources.append(Source(items, quota, f"popular:category:{category}"))
        if quotas.get("segment"):
            # without consent only a segment the request states is used, not the account's
            user = request.user_id if consent else ""
            segment = self.segments.segment_of(user, request.context)
            if segment is not None and segment in self.segment_lists:
                items, _ = self.segment_lists.get(segment)
                sources.append(Source(items, quotas["segment"], f"popular:segment:{segment}"))
        rest = n - sum(s.quota for s in sources)
        fallback = Source(self._positions(), rest, "popular:all")
        name = self.name
        return [
            Candidate(item_id, score, name, [name], {}, [reason])
            for _, item_id, score, reason in draw(self.item_ids, sources, skip, fallback)
        ]

    def _positions(self) -> np.ndarray:
        """0..len(item_ids)-1, built once: a request must not allocate catalog-sized arrays."""
        assert self.item_ids is not None
        if self._all is None or len(self._all) != len(self.item_ids):
            self._all = np.arange(len(self.item_ids))
        return self._all

    def _overall(self, skip: set[str], n: int) -> list[Candidate]:
        assert self.item_ids is not None and self.scores is not None
        ids, at = unskipped(self.item_ids, self._positions(), skip, n)
        return list(map(Candidate, ids, self.scores[at].tolist(), repeat(self.name)))

    def save(self, folder: Path) -> dict[str, Any]:
        if self.item_ids is None or self.scores is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "scores.npy", self.scores, allow_pickle=False)
        self.categories.save(folder, "category")
        self.segment_lists.save(folder, "segment")
        self.segments.save(folder)
        metrics = {
            "items": int(len(self.item_ids)),
            "categories": int(len(self.categories.keys)),
            "segments": int(len(self.segment_lists.keys)),
        }
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
        self.scores = np.load(folder / "scores.npy", allow_pickle=False)
        # models saved before the per-category/segment lists existed load as "all" only
        has = (folder / "category_keys.npy").exists()
        self.categories = RankedLists.load(folder, "category") if has else RankedLists.empty()
        has = (folder / "segment_keys.npy").exists()
        self.segment_lists = RankedLists.load(folder, "segment") if has else RankedLists.empty()
        self.segments = SegmentTable.load(folder)
