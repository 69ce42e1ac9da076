"""Build the declared pipeline from configuration, and train or load its components.

The component registries below map the names used in TOML to classes; each later stage
(ranking models, re-rankers, more channels) registers here and nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecorec.core.component import Component, Trainable
from ecorec.core.config import ConfigError, EcorecConfig
from ecorec.core.pipeline import Pipeline
from ecorec.data.lookup import ItemLookup
from ecorec.data.registry import ModelNotFoundError
from ecorec.data.stores import Stores
from ecorec.data.training import TrainingData
from ecorec.features.entities import CatalogSnapshot
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge

log = logging.getLogger(__name__)


class ComponentRegistry(Mapping[str, type[Component]]):
    """Component names -> classes, imported on first use.

    Heavy components (PyTorch models, faiss indexes) are only imported when a configuration
    names them, so ``ecorec info`` does not pay for torch.
    """

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = dict(paths)

    def __getitem__(self, name: str) -> type[Component]:
        module, _, attr = self._paths[name].partition(":")
        cls: type[Component] = getattr(importlib.import_module(module), attr)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


CHANNELS = ComponentRegistry(
    {
        "popular": "ecorec.recall.popular:PopularRecall",
        "item_cf": "ecorec.recall.item_cf:ItemCFRecall",
        "user_cf": "ecorec.recall.user_cf:UserCFRecall",
        "session": "ecorec.recall.session:SessionRecall",
        "ease": "ecorec.recall.ease:EASERecall",
        "content": "ecorec.recall.content:ContentRecall",
        "explore": "ecorec.recall.explore:ExploreRecall",
        "long_tail": "ecorec.recall.long_tail:LongTailRecall",
        "novice_creator": "ecorec.recall.novice:NoviceCreatorRecall",
        "curated": "ecorec.recall.curated:CuratedRecall",
        "two_tower": "ecorec.recall.two_tower:TwoTowerRecall",
        "als": "ecorec.recall.mf:ALSRecall",
        "lightgcn": "ecorec.recall.graph:LightGCNRecall",
    }
)
RANKERS = ComponentRegistry(
    {
        "recall_order": "ecorec.ranking.recall_order:RecallOrderRanker",
        "wide_deep": "ecorec.ranking.ranker:WideDeepRanker",
        "deepfm": "ecorec.ranking.ranker:DeepFMRanker",
        "din": "ecorec.ranking.ranker:DINRanker",
        "dien": "ecorec.ranking.ranker:DIENRanker",
        "esmm": "ecorec.ranking.ranker:ESMMRanker",
        "mmoe": "ecorec.ranking.ranker:MMoERanker",
    }
)
RERANKERS = ComponentRegistry(
    {
        "rules": "ecorec.rerank.rules:RuleBreakup",
        "mmr": "ecorec.rerank.mmr:MMRReranker",
        "dpp": "ecorec.rerank.dpp:DPPReranker",
        "explore": "ecorec.rerank.explore:ExploreSlots",
        "creator_traffic": "ecorec.rerank.creator:CreatorTraffic",
        "fairness": "ecorec.rerank.fairness:ExposureFairness",
        "curated": "ecorec.rerank.curated:CuratedInjection",
        "ads": "ecorec.ads.reranker:AdsReranker",
    }
)


def _make(
    kind: str, registry: Mapping[str, type[Component]], name: str, params: dict[str, Any]
) -> Component:
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}")
    try:
        return registry[name](params)
    except ValueError as exc:
        raise ConfigError(f"parameters of {kind} {name!r}: {exc}") from None


@dataclass
class Components:
    """The configured stages, before they are wired into a :class:`Pipeline`."""

    channels: list[Component]
    ranker: Component
    rerankers: list[Component] = field(default_factory=list)

    def all(self) -> list[Component]:
        return [*self.channels, self.ranker, *self.rerankers]

    def trainable(self) -> list[Any]:
        return [c for c in self.all() if isinstance(c, Trainable)]

    def model_name(self, component: Component) -> str:
        """The component's name in the model registry.

        Re-rankers get a ``rerank.`` prefix: a stage may share its TOML key with a recall
        channel (``explore``, ``curated``), and their models must not overwrite each other.
        """
        if any(component is r for r in self.rerankers):
            return f"rerank.{component.name}"
        return component.name

    def models(self) -> list[tuple[str, Any]]:
        """``(registry name, component)`` of every trainable component."""
        return [(self.model_name(c), c) for c in self.trainable()]


def build_components(config: EcorecConfig) -> Components:
    """Instantiate every component the configuration names, validating its parameters."""
    recall, rank, rerank = config.pipeline.recall, config.pipeline.rank, config.pipeline.rerank
    rank_params = rank.params(rank.model)
    if (
        rank.fusion
        and rank.model in RANKERS
        and "fusion" in RANKERS[rank.model].Config.model_fields
    ):
        rank_params.setdefault("fusion", rank.fusion)  # recall_order predicts nothing to fuse
    return Components(
        channels=[_make("recall channel", CHANNELS, n, recall.params(n)) for n in recall.channels],
        ranker=_make("ranker", RANKERS, rank.model, rank_params),
        rerankers=[_make("re-ranker", RERANKERS, n, rerank.params(n)) for n in rerank.order],
    )


def train_component(
    component: Any, data: TrainingData, stores: Stores, name: str | None = None
) -> str:
    """Train one component, save it as a new registry version and activate it.

    ``name`` is its model name in the registry (default: the component's name).
    """
    name = name or component.name
    component.train(data)
    with tempfile.TemporaryDirectory(prefix=f"ecorec-{name}-") as tmp:
        metrics = component.save(Path(tmp))
        version = stores.registry.save(
            name,
            Path(tmp),
            metrics=metrics,
            config=component.config.model_dump(mode="json"),
        )
    stores.registry.activate(name, version)
    return version


def train_all(
    components: Components,
    stores: Stores,
    on_start: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train every trainable component; one that does not apply to the data is skipped.

    A component raises ``ValueError`` when the data lacks what it needs (no creators for the
    novice-creator channel, a catalog too large for EASE): that is reported as
    ``{"skipped": reason}`` and the others still train.
    """
    data = TrainingData(stores.events, stores.catalog)
    results: dict[str, dict[str, Any]] = {}
    for name, component in components.models():
        if on_start is not None:
            on_start(name)
        started = time.perf_counter()
        try:
            version = train_component(component, data, stores, name)
        except ValueError as exc:
            log.warning("%s skipped: %s", name, exc)
            results[name] = {"skipped": str(exc)}
            continue
        results[name] = {
            "version": version,
            "seconds": round(time.perf_counter() - started, 3),
            "metrics": stores.registry.manifest(name, version)["metrics"],
        }
    return results


def load_or_train(
    components: Components,
    stores: Stores,
    train_missing: bool,
    on_train: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Load every trainable component's active version; train the missing ones if allowed.

    Returns ``{registry name: reason}`` for components that are neither loaded nor trained
    (the pipeline then runs without them); a component usable before any training
    (``is_trained()`` already true, e.g. an explore bandit at its prior) runs as it is until
    ``ecorec train``. A model trained with other parameters than the current configuration
    still loads, with a warning to retrain.
    """
    missing: dict[str, str] = {}
    for name, component in components.models():
        try:
            folder = stores.registry.open(name)
        except ModelNotFoundError:
            if component.is_trained():  # usable untrained, e.g. a bandit at its prior
                continue
        else:
            component.load(folder)
            trained_with = stores.registry.manifest(name, folder.name)["config"]
            if trained_with != component.config.model_dump(mode="json"):
                log.warning(
                    "%s was trained with other parameters than configured now: run `ecorec train`",
                    name,
                )
            continue
        if not train_missing:
            missing[name] = "no trained model (run `ecorec train`)"
            continue
        if on_train is not None:
            on_train(name)
        try:
            train_component(component, TrainingData(stores.events, stores.catalog), stores, name)
        except ValueError as exc:
            log.warning("%s skipped: %s", name, exc)
            missing[name] = str(exc)
    return missing


def build_pipeline(
    config: EcorecConfig,
    stores: Stores,
    train_missing: bool = False,
    on_train: Callable[[str], None] | None = None,
) -> Pipeline:
    """The runnable pipeline of ``config`` over ``stores``.

    Channels whose model is missing are left out (and reported by :func:`load_or_train`);
    if that leaves none, :class:`ConfigError` says to run ``ecorec train``.
    """
    components = build_components(config)
    missing = load_or_train(components, stores, train_missing, on_train)
    channels = [c for c in components.channels if c.name not in missing]
    if not channels:
        raise ConfigError("no recall channel has a trained model: run `ecorec train` first")
    ranker = components.ranker if components.ranker.name not in missing else RecallOrderRanker()
    recall = config.pipeline.recall
    merge = Merge(
        {
            "quota": recall.effective_quota(),
            "max_candidates": recall.max_candidates,
            "filter_seen": recall.filter_seen,
        },
        items=ItemLookup.from_catalog(stores.catalog),
    )
    rerankers = [r for r in components.rerankers if components.model_name(r) not in missing]
    snapshot = CatalogSnapshot(stores.catalog)  # read once, for every stage that holds items
    for component in (ranker, *rerankers):
        # stages that read item metadata at request time look up what they have not seen
        # (an item published after training) in the catalog
        attach = getattr(component, "attach", None)
        if attach is not None:
            attach(stores.catalog, snapshot)
    deadlines = config.pipeline.deadlines_ms
    return Pipeline(channels, merge, ranker, rerankers, stores.profiles, deadlines=deadlines)  # type: ignore[arg-type]
