"""The fine-ranking stage of the Pipeline: a deep model scoring every candidate of a request.

``train`` learns from the EventLog: impressions labelled per objective, point-in-time features,
the last tenth of the impressions (by time) held out for early stopping. ``__call__`` builds
the request's features from the profile and the catalog with the same code
(:mod:`~ecorec.features.platform`), runs **one** batched forward pass for all candidates, and
writes each candidate's ``predictions`` (objective -> probability) and fused ``score``.

Parameters come flat from ``[pipeline.rank.<model>]``: the ranker's own keys below, the
model's (``embedding_dim``, ``mlp``, ...) and the trainer's (``epochs``, ``batch_size``, ...);
``[pipeline.rank] fusion`` gives the fusion weights.
"""

from __future__ import annotations

import json
import logging
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.protocols import Catalog
from ecorec.data.training import TrainingData
from ecorec.features.entities import CatalogSnapshot, Entities
from ecorec.features.impressions import OBJECTIVES, event_table
from ecorec.features.platform import PlatformFeatures
from ecorec.features.platform_split import FeatureConfig, build_platform_split
from ecorec.features.rows import online_rows
from ecorec.features.schema import Schema
from ecorec.ranking.fusion import Fusion
from ecorec.ranking.models import build_model, model_class
from ecorec.ranking.models.base import RankingModel
from ecorec.ranking.training import TrainConfig, fit

log = logging.getLogger(__name__)

#: The fusion when none is configured, over the objectives the model predicts: a finish is
#: worth half a click, a like a third, a predicted "not interested" costs a whole click.
DEFAULT_FUSION = {"click": 1.0, "finish": 0.5, "like": 0.3, "negative": -1.0}
#: Files of a saved ranker besides the catalog rows (``entities.json``).
WEIGHTS_FILE, STATE_FILE = "weights.pt", "ranker.json"


class DeepRankerConfig(ComponentConfig):
    """What a deep ranker learns and how it scores.

    Attributes:
        objectives: the labels it learns, the first primary (early stopping watches it).
        fusion: objective -> weight of the fused score (empty: :data:`DEFAULT_FUSION` over the
            objectives predicted, or the primary objective alone).
        features: how impressions become rows (:class:`FeatureConfig`).
        valid_share: the latest share of impressions held out for early stopping.
        model: the model's own parameters (``embedding_dim``, ``mlp``, ``dropout``, ...).
        train: the trainer's (:class:`~ecorec.ranking.training.TrainConfig` keys).

    """

    objectives: tuple[str, ...] = ("click", "like", "finish", "negative")
    fusion: dict[str, float] = Field(default_factory=dict)
    features: FeatureConfig = Field(default_factory=lambda: FeatureConfig.model_validate({}))
    valid_share: float = Field(0.1, gt=0.0, lt=0.5)
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)


class DeepRanker(Component):
    """A ranking model from :data:`~ecorec.ranking.models.MODELS` as a Pipeline ranker."""

    name: ClassVar[str] = "deep"
    Config = DeepRankerConfig
    #: the model family (a key of MODELS); subclasses set it.
    family: ClassVar[str] = "deepfm"

    def __init__(self, config: DeepRankerConfig | dict[str, Any] | None = None) -> None:
        if isinstance(config, dict):
            config = self.flat_config(config)
        super().__init__(config)
        cfg = self.config
        assert isinstance(cfg, DeepRankerConfig)
        unknown = sorted(set(cfg.objectives) - set(OBJECTIVES))
        if unknown or not cfg.objectives:
            raise ValueError(f"unknown objectives {unknown}; known: {', '.join(OBJECTIVES)}")
        # fail at configuration time, not after an hour of training
        model_class(self.family).Config.model_validate(cfg.model)
        TrainConfig.model_validate(cfg.train)
        self.unlabelled: set[str] = set()  # objectives the training log never labelled
        self.fusion = self._fusion()
        self.model: RankingModel | None = None
        self.features: PlatformFeatures | None = None
        self.entities = Entities()
        self.metrics: dict[str, Any] = {}

    @classmethod
    def flat_config(cls, params: dict[str, Any]) -> DeepRankerConfig:
        """Sort flat ``[pipeline.rank.<model>]`` keys into ranker, model and trainer keys."""
        own = set(DeepRankerConfig.model_fields) - {"model", "train"}
        feature_keys = set(FeatureConfig.model_fields)
        model_keys = set(model_class(cls.family).Config.model_fields)
        train_keys = set(TrainConfig.model_fields)
        sorted_params: dict[str, Any] = {"model": {}, "train": {}, "features": {}}
        for key, value in params.items():
            if key in ("model", "train") and isinstance(value, dict):
                sorted_params[key].update(value)
            elif key == "features" and isinstance(value, dict):
                sorted_params["features"].update(value)
            elif key in own:
                sorted_params[key] = value
            elif key in feature_keys:
                sorted_params["features"][key] = value
            elif key in model_keys:
                sorted_params["model"][key] = value
            elif key in train_keys:
                sorted_params["train"][key] = value
            else:
                raise ValueError(
                    f"unknown key {key!r}; ranker keys: {', '.join(sorted(own | feature_keys))}; "
                    f"model keys: {', '.join(sorted(model_keys))}; "
                    f"training keys: {', '.join(sorted(train_keys))}"
                )
        return DeepRankerConfig.model_validate(sorted_params)

    # -- learning --------------------------------------------------------------------------

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Learn from the impressions of ``data``'s EventLog (held-out tail for early stopping).

        Raises:
            ValueError: no event log (a ratings table has no impressions), too few impressions,
                or a held-out tail without both classes of the primary objective.

        """
        cfg = self.config
        assert isinstance(cfg, DeepRankerConfig)
        if data.events is None:
            raise ValueError(
                f"{self.name} learns from logged impressions: it needs an event log, "
                "not a ratings table"
            )
        if data.catalog is not None:
            self.entities = Entities.from_catalog(data.catalog)
        else:
            self.entities = Entities.of(data.user_entities(), data.item_entities())
        events = event_table(data.events, end=data.end)
        split = build_platform_split(
            events,
            self.entities,
            cfg.objectives,
            cfg.features,
            (1 - cfg.valid_share, cfg.valid_share),
        )
        self.features = split.features
        self.features.remember(list(self.entities.items), self.entities)
        self.unlabelled = {o for o, y in split.train.labels.items() if bool(torch.isnan(y).all())}
        self.fusion = self._fusion()
        self.model = build_model(self.family, split.schema, cfg.model)
        progress = (options or {}).get("progress")
        schedule = TrainConfig.model_validate(cfg.train)
        result = fit(self.model, split.train, split.valid, schedule, progress=progress)
        self.model.cpu().eval()  # served on the CPU, whatever it trained on
        self.metrics = {
            "rows": split.summary()["rows"],
            "best_epoch": result.best_epoch,
            "valid": result.best_valid,
            "train_samples_per_s": round(result.samples_per_s, 1),
        }

    def _fusion(self) -> Fusion:
        """The configured fusion (weights may change without a retrain) minus unlabelled heads.

        A log of ratings labels ``click`` only; a head that never saw a label predicts noise,
        and fusing it would rank by that noise.
        """
        cfg = self.config
        assert isinstance(cfg, DeepRankerConfig)
        dropped = sorted(self.unlabelled & set(cfg.fusion or DEFAULT_FUSION))
        if dropped:
            log.warning("%s: the log labels no %s; fused without them", self.name, dropped)
        weights = cfg.fusion or {o: w for o, w in DEFAULT_FUSION.items() if o in cfg.objectives}
        kept = {o: w for o, w in weights.items() if o not in self.unlabelled}
        return Fusion.for_objectives(kept, cfg.objectives)

    def is_trained(self) -> bool:
        return self.model is not None

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Look up items (and users, creators) unknown at training time in ``catalog``.

        The ranker keeps the rows it was trained on (its features must not drift), so the
        pipeline's ``snapshot`` is not used.
        """
        self.entities.catalog = catalog

    def save(self, folder: Path) -> dict[str, Any]:
        """Weights, schema, vocabularies and catalog rows into ``folder``; metrics back."""
        if self.model is None or self.features is None:
            raise NotTrainedError(self)
        torch.save(self.model.state_dict(), folder / WEIGHTS_FILE)
        state = {
            "family": self.family,
            "schema": self.model.schema.to_dict(),
            "model": self.model.config.model_dump(mode="json"),
            "features": self.features.to_dict(),
            "unlabelled": sorted(self.unlabelled),
            "metrics": self.metrics,
        }
        (folder / STATE_FILE).write_text(json.dumps(state))
        self.entities.save(folder)
        return self.metrics

    def load(self, folder: Path) -> None:
        """Restore what :meth:`save` wrote (the registry has checked every file's hash)."""
        state = json.loads((folder / STATE_FILE).read_text())
        if state.get("family") != self.family:
            raise ValueError(
                f"{folder} holds a {state.get('family')!r} ranker, not {self.family!r}"
            )
        model = build_model(self.family, Schema.from_dict(state["schema"]), state["model"])
        model.load_state_dict(
            torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        )
        model.eval()
        catalog = self.entities.catalog
        self.model, self.features = model, PlatformFeatures.from_dict(state["features"])
        self.entities = Entities.load(folder)
        self.entities.catalog = catalog
        self.features.remember(list(self.entities.items), self.entities)
        self.metrics = state.get("metrics", {})
        self.unlabelled = set(state.get("unlabelled", []))
        self.fusion = self._fusion()

    # -- serving ---------------------------------------------------------------------------

    def predict(
        self, request: Request, profile: Profile, item_ids: list[str]
    ) -> dict[str, np.ndarray]:
        """Objective -> probability for each of ``item_ids``, in one forward pass."""
        if self.model is None or self.features is None:
            raise NotTrainedError(self)
        rows = online_rows(request, profile, item_ids, self.features.max_history)
        batch = self.features.encode(rows, self.entities)
        with torch.inference_mode():
            logits = self.model(batch)
        return {o: torch.sigmoid(v).numpy() for o, v in logits.items()}

    def __call__(
        self, request: Request, profile: Profile, candidates: list[Candidate]
    ) -> list[Candidate]:
        if not candidates:
            return []
        predictions = self.predict(request, profile, [c.item_id for c in candidates])
        scores = self.fusion(predictions)
        reason = f"rank:{self.name}"
        # one tolist per objective, not a numpy scalar per candidate and objective, and each
        # candidate's dict built by C-level maps: the same floats at a fraction of the cost
        # over hundreds of candidates (a value per objective by construction, so no strict zip)
        objectives = repeat(tuple(predictions))
        per_candidate = zip(*(p.tolist() for p in predictions.values()), strict=True)
        rows = map(dict, map(zip, objectives, per_candidate))
        for candidate, score, row in zip(candidates, scores.tolist(), rows, strict=True):
            candidate.predictions = row
            candidate.score = score
            candidate.reasons.append(reason)
        order = np.argsort(-scores, kind="stable")
        return list(map(candidates.__getitem__, order.tolist()))


class WideDeepRanker(DeepRanker):
    """Wide&Deep as the Pipeline ranker (``[pipeline.rank] model = "wide_deep"``)."""

    name = family = "wide_deep"


class DeepFMRanker(DeepRanker):
    """DeepFM as the Pipeline ranker (``[pipeline.rank] model = "deepfm"``)."""

    name = family = "deepfm"


class DINRanker(DeepRanker):
    """DIN as the Pipeline ranker (``[pipeline.rank] model = "din"``)."""

    name = family = "din"


class DIENRanker(DeepRanker):
    """DIEN as the Pipeline ranker (``[pipeline.rank] model = "dien"``)."""

    name = family = "dien"


class ESMMRanker(DeepRanker):
    """ESMM as the Pipeline ranker (``[pipeline.rank] model = "esmm"``)."""

    name = family = "esmm"


class MMoERanker(DeepRanker):
    """MMoE as the Pipeline ranker (``[pipeline.rank] model = "mmoe"``)."""

    name = family = "mmoe"


#: Model family -> its Pipeline ranker class (the factory registers the same by name).
RANKER_CLASSES: dict[str, type[DeepRanker]] = {
    cls.family: cls
    for cls in (WideDeepRanker, DeepFMRanker, DINRanker, DIENRanker, ESMMRanker, MMoERanker)
}
