"""ESMM as the ads stage's pCTR/pCVR scorer, learned from the EventLog's ad impressions.

The calibrated fallback (:mod:`.estimates`) knows one rate per ad. ESMM (Ma et al., SIGIR 2018)
scores each (user, ad, context) instead: the ranking layer's model, trained on every logged ad
impression with the objectives ``click`` and ``convert`` (pCTCVR = pCTR x pCVR), so its CVR
tower learns from the entire impression space rather than from the few clicked rows.

Ads become items for the feature code exactly as in ``benchmarks/ranking_esmm.py``
(:func:`ad_as_item`: the advertiser as creator, the bid type as tag, the landing quality as
quality); users, content items (the behaviour sequence's categories) and creators come from
the catalog. The model, its vocabularies and the entity rows are held, saved and loaded by an
:class:`~ecorec.ranking.ranker.ESMMRanker`, so a saved scorer is a saved ranker folder.

At request time :meth:`ESMMAdScorer.predict` gives ``sigmoid(click logit)`` as pCTR and the CVR
tower's own ``sigmoid`` as pCVR (conversion given click), which is what the auction's
``make_bid`` multiplies. An ad the model never saw scores through OOV ids but keeps its
advertiser, category and landing quality when the catalog knows it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, NonNegativeInt

from ecorec.core.component import ComponentConfig, NotTrainedError
from ecorec.core.contracts import Request
from ecorec.core.entities import Ad, Item
from ecorec.core.profile import Profile
from ecorec.data.protocols import Catalog
from ecorec.data.training import TrainingData
from ecorec.features.entities import CatalogSnapshot, Entities
from ecorec.features.impressions import event_table
from ecorec.features.platform_split import FeatureConfig, PlatformSplit, build_platform_split
from ecorec.features.rows import online_rows
from ecorec.ranking.models import build_model
from ecorec.ranking.models.base import ModelConfig
from ecorec.ranking.models.esmm import ESMM
from ecorec.ranking.ranker import DeepRankerConfig, ESMMRanker
from ecorec.ranking.training import FitResult, TrainConfig, fit

log = logging.getLogger(__name__)

#: The two heads: pCTR, and pCTCVR whose CVR tower is served as pCVR.
OBJECTIVES = ("click", "convert")
#: CTCVR loss weights tried on the validation tail when none is configured (as the benchmark).
CONVERT_WEIGHTS = (1.0, 10.0, 30.0)
#: The subfolder of a saved ads stage that holds the scorer.
FOLDER = "esmm"


class ESMMScorerConfig(ComponentConfig):
    """What :class:`ESMMAdScorer` learns from and how.

    Args:
        features: :class:`~ecorec.features.platform_split.FeatureConfig` keys.
        model: the ESMM's (``embedding_dim``, ``mlp``, ``dropout``, ``seed``).
        train: the trainer's (:class:`~ecorec.ranking.training.TrainConfig` keys); the monitor
            is always ``convert`` (the click tower peaks before rare conversions are learned).
        convert_weight: the CTCVR loss weight; ``None`` picks the best of ``convert_weights``
            by validation CTCVR AUC (conversions are a fraction of a percent of impressions:
            at weight 1 their loss is a rounding error next to the click loss).
        convert_weights: the weights tried when ``convert_weight`` is ``None``.
        valid_share: the latest share of ad impressions held out for early stopping.
        min_conversions: fewest converted impressions to train on; fewer raises ``ValueError``
            (the caller keeps its calibrated fallback).

    """

    features: FeatureConfig = Field(
        default_factory=lambda: FeatureConfig.model_validate({"max_history": 20})
    )
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    convert_weight: float | None = Field(default=None, gt=0.0)
    convert_weights: tuple[float, ...] = Field(default=CONVERT_WEIGHTS, min_length=1)
    valid_share: float = Field(default=0.1, gt=0.0, lt=0.5)
    min_conversions: NonNegativeInt = 20


def ad_as_item(ad: Ad) -> Item:
    """An ad in the shape the ranking features read (advertiser as creator, bid type as tag)."""
    return Item(
        ad.ad_id,
        creator_id=ad.advertiser_id,
        category=ad.category,
        tags=(str(ad.bid_type),),
        quality=ad.landing_quality,
    )


class ESMMAdScorer:
    """pCTR and pCVR of ads per request from an ESMM trained on logged ad impressions.

    Implements :class:`~ecorec.ads.estimates.AdScorer`.

    Example:
        >>> scorer = ESMMAdScorer({"train": {"epochs": 2}, "convert_weight": 10.0})
        >>> scorer.is_trained()
        False

    """

    def __init__(self, config: ESMMScorerConfig | dict[str, Any] | None = None) -> None:
        if not isinstance(config, ESMMScorerConfig):
            config = ESMMScorerConfig.model_validate(config or {})
        self.config = config
        # fail at configuration time, not after the training
        ModelConfig.model_validate(config.model)
        self._schedule(1.0)
        #: holds the model, the vocabularies and the entity rows (and saves/loads them)
        self.ranker = ESMMRanker(
            DeepRankerConfig(
                objectives=OBJECTIVES,
                features=config.features,
                valid_share=config.valid_share,
                model=config.model,
                train=config.train,
            )
        )
        self.catalog: Catalog | None = None
        self._absent: set[str] = set()  # ad ids the catalog did not know: asked once

    def _schedule(self, weight: float) -> TrainConfig:
        weights = {**self.config.train.get("objective_weights", {}), "convert": weight}
        params = {**self.config.train, "monitor": "convert", "objective_weights": weights}
        return TrainConfig.model_validate(params)

    # -- learning --------------------------------------------------------------------------

    def train(self, data: TrainingData) -> dict[str, Any]:
        """Learn from ``data``'s ad impressions (ads and advertisers from ``data.catalog``).

        Returns:
            The training metrics (also kept in :attr:`metrics`).

        Raises:
            ValueError: no event log or catalog, too few ad impressions or conversions, or a
                validation tail without a conversion.

        """
        cfg = self.config
        if data.events is None or data.catalog is None:
            raise ValueError("the ESMM ad scorer learns from the event log and the catalog's ads")
        entities = Entities.from_catalog(data.catalog)
        # ads last: an ad id shadows any content item of the same id
        entities.items.update((ad.ad_id, ad_as_item(ad)) for ad in data.catalog.scan(Ad))
        events = event_table(data.events, end=data.end)
        split = build_platform_split(
            events,
            entities,
            OBJECTIVES,
            cfg.features,
            (1 - cfg.valid_share, cfg.valid_share),
            key="ad_id",
        )
        conversions = int(split.train.labels["convert"].sum() + split.valid.labels["convert"].sum())
        if conversions < cfg.min_conversions:
            raise ValueError(
                f"the log has {conversions} converted ad impressions, ESMM needs at least "
                f"{cfg.min_conversions}"
            )
        weights = (cfg.convert_weight,) if cfg.convert_weight is not None else cfg.convert_weights
        best: tuple[float, ESMM, FitResult] | None = None
        tried: dict[str, float] = {}
        for weight in weights:
            model, result = self._fit(split, weight)
            tried[str(weight)] = result.best_valid["convert"]["auc"]
            if (
                best is None
                or result.best_valid["convert"]["auc"] > best[2].best_valid["convert"]["auc"]
            ):
                best = (weight, model, result)
        assert best is not None
        weight, model, result = best
        model.cpu().eval()  # served on the CPU, whatever it trained on
        ranker = self.ranker
        ranker.model, ranker.features, ranker.entities = model, split.features, entities
        ranker.metrics = {
            "rows": split.summary()["rows"],
            "conversions": conversions,
            "best_epoch": result.best_epoch,
            "valid": result.best_valid,
            "convert_weight": weight,
            "valid_ctcvr_auc_by_weight": tried,
        }
        return ranker.metrics

    def _fit(self, split: PlatformSplit, weight: float) -> tuple[ESMM, FitResult]:
        model = build_model("esmm", split.schema, self.config.model)
        assert isinstance(model, ESMM)
        return model, fit(model, split.train, split.valid, self._schedule(weight))

    @property
    def metrics(self) -> dict[str, Any]:
        return self.ranker.metrics

    def is_trained(self) -> bool:
        return self.ranker.is_trained()

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Look up users and ads unknown at training time in ``catalog`` (not the snapshot)."""
        self.catalog = catalog
        self._absent.clear()
        self.ranker.attach(catalog)

    def save(self, folder: Path) -> dict[str, Any]:
        """Weights, schema, vocabularies and entity rows into ``folder``; metrics back."""
        if not self.is_trained():
            raise NotTrainedError(self.ranker)
        return self.ranker.save(folder)

    def load(self, folder: Path) -> None:
        """Restore what :meth:`save` wrote."""
        self.ranker.load(folder)
        self._absent.clear()
        if self.catalog is not None:
            self.ranker.attach(self.catalog)

    # -- serving ---------------------------------------------------------------------------

    def predict(
        self, request: Request, profile: Profile, ad_ids: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(pCTR, pCVR)`` of ``ad_ids`` for ``request``, in one forward pass."""
        ranker = self.ranker
        if ranker.model is None or ranker.features is None:
            raise NotTrainedError(ranker)
        if not ad_ids:
            return np.empty(0), np.empty(0)
        self._learn_new_ads(ad_ids)
        rows = online_rows(request, profile, list(ad_ids), ranker.features.max_history)
        batch = ranker.features.encode(rows, ranker.entities)
        assert isinstance(ranker.model, ESMM)
        with torch.inference_mode():
            logits = ranker.model.tower_logits(batch)
        pctr = torch.sigmoid(logits["click"]).double().numpy()
        pcvr = torch.sigmoid(logits["convert"]).double().numpy()
        return pctr, pcvr

    def _learn_new_ads(self, ad_ids: Sequence[str]) -> None:
        """Give ads published after training their catalog features (their id stays OOV).

        Before the first encoding of the id: the encoder remembers an item's codes once made.
        """
        items = self.ranker.entities.items
        missing = [a for a in dict.fromkeys(ad_ids) if a not in items and a not in self._absent]
        if missing and self.catalog is not None:
            found = self.catalog.get(Ad, missing)
            for ad in found.values():
                items[ad.ad_id] = ad_as_item(ad)
            self._absent.update(a for a in missing if a not in found)


# -- the ads stage's hooks (AdsReranker imports this module only with ``scorer = "esmm"``) ----


def train_or_none(
    params: dict[str, Any], data: TrainingData, catalog: Catalog | None = None
) -> ESMMAdScorer | None:
    """A scorer trained on ``data``, or ``None`` (with a warning) when the log is too small."""
    scorer = ESMMAdScorer(params)
    try:
        scorer.train(data)
    except ValueError as exc:
        log.warning("ads: ESMM not trained (%s); the calibrated rates serve", exc)
        return None
    if catalog is not None:
        scorer.attach(catalog)
    return scorer


def save_into(scorer: object, folder: Path) -> dict[str, Any]:
    """Save a trained ESMM ``scorer`` into ``folder/esmm``; the registry metrics to add."""
    if not isinstance(scorer, ESMMAdScorer) or not scorer.is_trained():
        return {"scorer": "calibrated"}
    sub = Path(folder) / FOLDER
    sub.mkdir(exist_ok=True)
    metrics = scorer.save(sub)
    kept = ("conversions", "best_epoch", "convert_weight", "valid")
    return {"scorer": "esmm", "esmm": {k: metrics[k] for k in kept if k in metrics}}


def load_or_none(
    params: dict[str, Any], folder: Path, catalog: Catalog | None = None
) -> ESMMAdScorer | None:
    """The scorer :func:`save_into` wrote in ``folder``, or ``None`` when it wrote none."""
    sub = Path(folder) / FOLDER
    if not sub.is_dir():
        log.warning("ads: %s holds no ESMM scorer; the calibrated rates serve", folder)
        return None
    scorer = ESMMAdScorer(params)
    if catalog is not None:
        scorer.attach(catalog)
    scorer.load(sub)
    return scorer
