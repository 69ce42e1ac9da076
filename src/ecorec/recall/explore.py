"""Explore recall: good items from clusters the user has never engaged with, sampled.

The channel that keeps a feed from closing in on itself. Items are grouped into clusters at
train time — k-means over their metadata vectors (:mod:`.text`, scikit-learn's
MiniBatchKMeans, seeded), LDA topics over the item x metadata-word count matrix (scikit-learn's
LatentDirichletAllocation, each item in its strongest topic), or simply the item category — and
each cluster keeps a pool of its best items by quality (:mod:`.quality`).

A request finds the clusters the user engaged with (those of the profile's recent items, and
the cluster most of each positive interest category's items fall in, and a survey's
categories), and draws from the others: every unengaged cluster gets the same probability mass
(diversity), split inside the cluster in proportion to ``quality ** quality_power``. ``n`` draws
with replacement are made from a generator seeded by ``(seed, user_id, request_id)``, so a
logged request replays exactly; duplicates collapse, so fewer than ``n`` items may come back.
Each candidate's ``propensity`` is its exact inclusion probability ``1 - (1 - p) ** n`` (what
off-policy estimators divide by) and its score is that propensity.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import LatentDirichletAllocation
from threadpoolctl import threadpool_limits

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.lists import RankedLists, interest_weights, request_rng
from ecorec.recall.metadata import item_entities, live_items
from ecorec.recall.quality import item_quality
from ecorec.recall.text import ItemText, token_counts

#: Sampling weight of an item of quality 0 (so it can still be drawn, rarely).
_FLOOR = 1e-3


class ExploreConfig(ComponentConfig):
    """Parameters of :class:`ExploreRecall`.

    Attributes:
        n: draws per request (the most candidates returned).
        exclude_seen: never draw items the user already consumed.
        clusters: ``kmeans`` over metadata vectors, ``lda`` topics, or ``category``.
        n_clusters: clusters (k-means) or topics (LDA); fewer when there are fewer items.
        dim: SVD dimensions of the metadata vectors k-means runs on.
        pool_size: best items kept per cluster.
        min_quality: items below this quality are never explored.
        quality_power: sampling weight inside a cluster is ``quality ** quality_power``.
        recent_items: newest profile items whose clusters count as engaged.
        seed: clustering seed and root of every request's generator.

    """

    n: int = Field(50, gt=0)
    exclude_seen: bool = True
    clusters: Literal["kmeans", "lda", "category"] = "kmeans"
    n_clusters: int = Field(20, gt=0)
    dim: int = Field(32, ge=0)
    pool_size: int = Field(200, gt=0)
    min_quality: float = 0.0
    quality_power: float = Field(1.0, ge=0)
    recent_items: int = Field(50, gt=0)
    seed: int = 0


class ExploreRecall(Component):
    """Quality-weighted samples from the item clusters a user has not engaged with.

    Example:
        >>> from ecorec.core.entities import Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Item("a", category="music", quality=0.9),
        ...              Item("b", category="news", quality=0.8)])
        2
        >>> explore = ExploreRecall({"clusters": "category"})
        >>> explore.train(TrainingData(catalog=catalog))
        >>> out = explore(Request("u", request_id="r1"), Profile("u", interests={"music": 3.0}))
        >>> [(c.item_id, c.propensity) for c in out]
        [('b', 1.0)]

    """

    name = "explore"
    personalized = True
    Config = ExploreConfig
    config: ExploreConfig

    def __init__(self, config: ExploreConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_ids: np.ndarray | None = None
        self.pools = RankedLists.empty()
        self.weights = np.empty(0)
        self.sorted_ids = np.empty(0, dtype=str)
        self.sorted_clusters = np.empty(0, dtype=str)
        self.sorted_pos = np.empty(0, dtype=np.int64)
        self.category_cluster: dict[str, str] = {}

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Cluster the live items, score their quality and keep each cluster's best."""
        items = live_items(item_entities(data))
        if not items:
            raise ValueError("explore: no catalog items to cluster (the dataset is empty)")
        clusters = self._clusters(items)
        ids = np.asarray([i.item_id for i in items], dtype=str)
        quality = item_quality(data, ids, {i.item_id: i.quality for i in items})
        keys = np.where(quality >= self.config.min_quality, clusters, "")
        self.pools = RankedLists.build(keys, np.arange(len(ids)), quality, self.config.pool_size)
        weights = np.maximum(self.pools.scores, 0.0) ** self.config.quality_power
        self.weights = np.maximum(weights, _FLOOR)
        order = np.argsort(ids, kind="stable")
        self.sorted_ids, self.sorted_clusters = ids[order], clusters[order]
        self.sorted_pos = order.astype(np.int64)
        self.category_cluster = _modal_clusters(items, clusters)
        self.item_ids = ids

    def _clusters(self, items: list[Item]) -> np.ndarray:
        """Cluster name per item (``""``: no metadata to cluster on)."""
        config = self.config
        if config.clusters == "category":
            return np.asarray([i.category or "" for i in items], dtype=str)
        if config.clusters == "lda":
            counts = token_counts(items)
            k = max(1, min(config.n_clusters, counts.shape[0]))
            lda = LatentDirichletAllocation(n_components=k, random_state=config.seed)
            topics = lda.fit_transform(counts).argmax(axis=1)
            empty = np.asarray(counts.sum(axis=1)).ravel() == 0
            return np.where(empty, "", np.char.add("t", topics.astype(str)))
        _, vectors = ItemText.fit(items, config.dim, config.seed)
        has = np.linalg.norm(vectors, axis=1) > 0
        distinct = len(np.unique(vectors[has].round(6), axis=0)) if has.any() else 0
        k = max(1, min(config.n_clusters, distinct))
        labels = np.zeros(len(items), dtype=np.int64)
        if has.any():
            kmeans = MiniBatchKMeans(n_clusters=k, random_state=config.seed, n_init=3)
            # scikit-learn's OpenMP threads spin on a busy machine (measured: 800 items took
            # 3.9 s with the default pool on 2 shared cores, 0.05 s with one thread); the
            # limit is scoped to this call
            with threadpool_limits(limits=1, user_api="openmp"):
                labels[has] = kmeans.fit_predict(vectors[has])
        return np.where(has, np.char.add("k", labels.astype(str)), "")

    def is_trained(self) -> bool:
        return self.item_ids is not None

    def engaged(self, request: Request, profile: Profile) -> set[str]:
        """Clusters of the profile's recent items, its interests and a declared survey."""
        recent = profile.recent_item_ids[-self.config.recent_items :]
        out = set(self._cluster_of(recent))
        interests = interest_weights(profile.interests, request.context.get("interests"), 1000)
        out.update(self.category_cluster[c] for c in interests if c in self.category_cluster)
        out.discard("")
        return out

    def _lookup(self, item_ids: Collection[str]) -> np.ndarray:
        """Rows of ``sorted_ids`` holding the known ids among ``item_ids`` (binary search)."""
        if not item_ids or not len(self.sorted_ids):
            return np.empty(0, dtype=np.int64)
        wanted = np.asarray(list(item_ids), dtype=str)
        at = np.minimum(np.searchsorted(self.sorted_ids, wanted), len(self.sorted_ids) - 1)
        return np.asarray(at[self.sorted_ids[at] == wanted])

    def _cluster_of(self, item_ids: list[str]) -> list[str]:
        return list(self.sorted_clusters[self._lookup(item_ids)].tolist())

    def _positions(self, item_ids: Collection[str]) -> np.ndarray:
        """Indices into ``item_ids`` of the known ids among ``item_ids`` (for pool filtering)."""
        return np.asarray(self.sorted_pos[self._lookup(item_ids)])

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.item_ids is None:
            raise NotTrainedError(self)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        engaged = self.engaged(request, profile)
        banned = self._positions(skip)
        keys = self.pools.keys.tolist()
        entry_keys = self.pools.entry_keys
        unengaged = np.fromiter((key not in engaged for key in keys), dtype=bool, count=len(keys))
        keep = unengaged[entry_keys]
        if len(banned):
            keep &= ~np.isin(self.pools.items, banned)
        pool, weights, codes = self.pools.items[keep], self.weights[keep], entry_keys[keep]
        if not len(pool):
            return []
        # every unengaged cluster with an item left gets the same mass, split by weight; each
        # cluster's total is .sum() of its run (np.add.reduceat adds sequentially, so its
        # last bits differ from the pairwise sum and the propensities would not replay)
        counts = np.bincount(codes, minlength=len(keys))
        present = np.flatnonzero(counts)
        sizes = counts[present]
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        sums = np.array([weights[a:b].sum() for a, b in zip(starts, ends, strict=True)])
        p = weights / np.repeat(sums, sizes) / len(present)
        cluster_of = np.repeat(np.arange(len(present)), sizes)
        names = [keys[k] for k in present.tolist()]
        draws = self.config.n
        drawn = request_rng(self.config.seed, request.user_id, request.request_id).choice(
            len(pool), size=draws, p=p / p.sum()
        )
        chosen = np.unique(drawn)
        propensity = 1.0 - (1.0 - p[chosen]) ** draws
        order = np.lexsort((chosen, -propensity))
        chosen = chosen[order]
        ids = self.item_ids[pool[chosen]].tolist()
        clusters = cluster_of[chosen].tolist()
        name = self.name
        return [
            Candidate(item_id, score, name, [name], {}, [f"explore:{names[c]}"], False, None, score)
            for item_id, score, c in zip(ids, propensity[order].tolist(), clusters, strict=True)
        ]

    def save(self, folder: Path) -> dict[str, Any]:
        if self.item_ids is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "weights.npy", self.weights, allow_pickle=False)
        np.save(folder / "sorted_ids.npy", self.sorted_ids, allow_pickle=False)
        np.save(folder / "sorted_clusters.npy", self.sorted_clusters, allow_pickle=False)
        np.save(folder / "sorted_pos.npy", self.sorted_pos, allow_pickle=False)
        self.pools.save(folder, "pools")
        (folder / "category_cluster.json").write_text(json.dumps(self.category_cluster))
        metrics = {"items": int(len(self.item_ids)), "clusters": int(len(self.pools.keys))}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.weights = np.load(folder / "weights.npy", allow_pickle=False)
        self.sorted_ids = np.load(folder / "sorted_ids.npy", allow_pickle=False)
        self.sorted_clusters = np.load(folder / "sorted_clusters.npy", allow_pickle=False)
        self.sorted_pos = np.load(folder / "sorted_pos.npy", allow_pickle=False)
        self.pools = RankedLists.load(folder, "pools")
        self.category_cluster = json.loads((folder / "category_cluster.json").read_text())
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)


def _modal_clusters(items: list[Item], clusters: np.ndarray) -> dict[str, str]:
    """Category -> the cluster most of its items are in (how an interest maps to a cluster)."""
    counts: dict[str, Counter[str]] = {}
    for item, cluster in zip(items, clusters.tolist(), strict=True):
        if item.category and cluster:
            counts.setdefault(item.category, Counter())[cluster] += 1
    return {c: min(n.items(), key=lambda kv: (-kv[1], kv[0]))[0] for c, n in counts.items()}
