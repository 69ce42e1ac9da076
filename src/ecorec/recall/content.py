"""Content-based recall: item metadata matched to what the user declared or showed they like.

The cold-start channel. Items are vectorised from their metadata (:mod:`.text`: TF-IDF over
category, tags, title and text ``attrs``, reduced by SVD when the vocabulary is large), so an
item nobody has interacted with yet is served as soon as it is in the catalog. The user vector
adds, each as a unit vector times its weight:

* the declared interests of a cold-start survey, ``request.context["interests"]`` (a list of
  categories/tags, or a mapping to weights): a user with no history is matched;
* the profile's interests (category -> weight, positive ones);
* the mean vector of the profile's most recent items: a click a moment ago moves the next
  request's candidates.

Items are found by inner product of unit vectors (cosine) in the faiss index of :mod:`.ann`,
so a request costs O(candidates) on a catalog of millions. Items whose metadata gives the same
vector (same category and tags: most of a synthetic catalog, many of a real one) share one
index entry whose members are kept best quality first (:mod:`.quality`): the index holds
distinct vectors only, which keeps HNSW away from the near-duplicate points it handles badly,
and a request walks groups in cosine order, members in quality order, until ``n``.

Consent: the channel reads the user's history, so it is ``personalized`` and the Pipeline does
not call it for a user who withdrew personalisation consent; such a user still gets the
non-personalised channels (popular, with its per-category mode reading the same survey from
``request.context["interests"]``, and curated). The survey path is not split into a separate
non-personalised channel, to keep one content model.
"""

from __future__ import annotations

import json
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.ann import AnnConfig, AnnIndex
from ecorec.recall.lists import interest_weights, unskipped
from ecorec.recall.metadata import has_interactions, item_entities, live_items
from ecorec.recall.quality import item_quality
from ecorec.recall.text import ItemText


class ContentConfig(ComponentConfig):
    """Parameters of :class:`ContentRecall`.

    Attributes:
        n: candidates per request.
        exclude_seen: skip items the user already consumed.
        dim: SVD dimensions when the metadata vocabulary is larger (0 = keep TF-IDF columns).
        declared_weight: weight of the survey interests in the user vector.
        interest_weight: weight of the profile's category interests.
        history_weight: weight of the mean vector of the recent items.
        recent_items: how many of the newest profile items make the history vector.
        max_interests: strongest interests kept.
        min_score: candidates need a cosine above this (0: share at least one word).
        seed: SVD seed.
        ann: the index (see :class:`~ecorec.recall.ann.AnnConfig`).

    """

    n: int = Field(200, gt=0)
    exclude_seen: bool = True
    dim: int = Field(64, ge=0)
    declared_weight: float = Field(1.0, ge=0)
    interest_weight: float = Field(1.0, ge=0)
    history_weight: float = Field(1.0, ge=0)
    recent_items: int = Field(20, gt=0)
    max_interests: int = Field(10, gt=0)
    min_score: float = Field(0.0, ge=-1, lt=1)
    seed: int = 0
    ann: AnnConfig = AnnConfig()


class ContentRecall(Component):
    """Items whose metadata is closest (cosine) to the user's declared and inferred interests.

    Example:
        >>> from ecorec.core.entities import Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Item("a", category="music"), Item("b", category="news")])
        2
        >>> content = ContentRecall({"n": 1, "ann": {"kind": "flat"}})
        >>> content.train(TrainingData(catalog=catalog))
        >>> [c.item_id for c in content(Request("new", context={"interests": ["news"]}),
        ...                              Profile("new"))]
        ['b']

    """

    name = "content"
    personalized = True
    Config = ContentConfig
    config: ContentConfig

    def __init__(self, config: ContentConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.text: ItemText | None = None
        self.index: AnnIndex | None = None
        self.item_ids = np.empty(0, dtype=str)
        self.offsets = np.zeros(1, dtype=np.int64)
        self.members = np.empty(0, dtype=np.int64)
        self.sorted_ids = np.empty(0, dtype=str)
        self.sorted_groups = np.empty(0, dtype=np.int64)

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Vectorise every live item, group equal vectors, index one vector per group."""
        items = live_items(item_entities(data))
        if not items:
            if has_interactions(data):
                raise ValueError("content: no catalog items: item metadata is needed to learn")
            raise ValueError("content: no items and no interactions: the dataset is empty")
        text, vectors = ItemText.fit(items, self.config.dim, self.config.seed)
        keep = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
        ids = np.asarray([items[k].item_id for k in keep.tolist()], dtype=str)
        quality = item_quality(data, ids, {items[k].item_id: items[k].quality for k in keep})
        distinct, first, group = np.unique(
            vectors[keep].round(5), axis=0, return_index=True, return_inverse=True
        )
        group = group.ravel()
        order = np.lexsort((ids, -quality, group))
        index = AnnIndex(self.config.ann)
        index.build(np.arange(len(distinct)).astype(str), vectors[keep][first])
        self.text, self.index = text, index
        self.item_ids, self.members = ids, order.astype(np.int64)
        self.offsets = np.searchsorted(group[order], np.arange(len(distinct) + 1)).astype(np.int64)
        by_id = np.argsort(ids, kind="stable")
        self.sorted_ids, self.sorted_groups = ids[by_id], group[by_id].astype(np.int64)

    def is_trained(self) -> bool:
        return self.index is not None

    def user_vector(self, request: Request, profile: Profile) -> np.ndarray:
        """The unit query vector (zero when nothing is known about the user)."""
        if self.text is None or self.index is None:
            raise NotTrainedError(self)
        config = self.config
        total = np.zeros(self.text.dim, dtype=np.float32)
        declared = interest_weights({}, request.context.get("interests"), config.max_interests)
        if declared:
            total += config.declared_weight * self.text.query(declared.items())
        inferred = interest_weights(profile.interests, None, config.max_interests)
        if inferred:
            total += config.interest_weight * self.text.query(inferred.items())
        recent = self._groups(profile.recent_item_ids[-config.recent_items :])
        known = self.index.vectors([str(g) for g in recent])
        if len(known):
            mean = np.mean(known, axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0:
                total += config.history_weight * mean / norm
        norm = float(np.linalg.norm(total))
        return total / norm if norm > 0 else total

    def _groups(self, item_ids: list[str]) -> list[int]:
        """Index groups of the known ids among ``item_ids``."""
        if not item_ids or not len(self.sorted_ids):
            return []
        wanted = np.asarray(item_ids, dtype=str)
        at = np.minimum(np.searchsorted(self.sorted_ids, wanted), len(self.sorted_ids) - 1)
        return list(self.sorted_groups[at[self.sorted_ids[at] == wanted]].tolist())

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        query = self.user_vector(request, profile)
        assert self.index is not None
        if not query.any():
            return []
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        n, k = self.config.n, self.config.n
        while True:
            hits = self.index.search(query, k)[0]
            scores = np.array([score for _, score in hits], dtype=np.float64)
            # hits come best first: past the first weak one the rest match even less
            weak = np.flatnonzero(scores <= self.config.min_score)
            usable = int(weak[0]) if len(weak) else len(hits)
            groups = np.array([int(group) for group, _ in hits[:usable]], dtype=np.int64)
            out = self._expand(groups, scores[:usable], skip, n)
            if len(out) >= n or usable < len(hits) or len(hits) < k:
                return out
            k *= 4  # groups full of seen items: look further

    def _expand(
        self, groups: np.ndarray, scores: np.ndarray, skip: set[str], n: int
    ) -> list[Candidate]:
        """The first ``n`` unskipped members of ``groups`` in order, each with its group's score.

        Only the groups that can contribute are read: those starting before the
        ``n + len(skip)``-th member (members are unique, so no more can be skipped).
        """
        starts = self.offsets[groups]
        lengths = self.offsets[groups + 1] - starts
        before = np.cumsum(lengths) - lengths
        needed = int(np.searchsorted(before, n + len(skip), side="left"))
        starts, lengths, before = starts[:needed], lengths[:needed], before[:needed]
        total = int(lengths.sum())
        positions = np.repeat(starts - before, lengths) + np.arange(total)
        member_scores = np.repeat(scores[:needed], lengths)
        ids, at = unskipped(self.item_ids, self.members[positions], skip, n)
        return list(map(Candidate, ids, member_scores[at].tolist(), repeat(self.name)))

    def save(self, folder: Path) -> dict[str, Any]:
        if self.text is None or self.index is None:
            raise NotTrainedError(self)
        self.text.save(folder)
        self.index.save(folder, "content_ann")
        for name in ("item_ids", "offsets", "members", "sorted_ids", "sorted_groups"):
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        metrics = {"items": len(self.item_ids), "vectors": len(self.index), "dim": self.text.dim}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        for name in ("item_ids", "offsets", "members", "sorted_ids", "sorted_groups"):
            setattr(self, name, np.load(folder / f"{name}.npy", allow_pickle=False))
        self.text = ItemText.load(folder)
        self.index = AnnIndex.load(folder, "content_ann")
