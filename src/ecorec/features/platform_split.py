"""A platform's impressions as time-ordered train / validation (/ test) feature tables.

This is how the ranker learns from the EventLog (``ecorec train``) and how ``ecorec evaluate
rank`` judges it on a synthetic platform: impressions labelled per objective
(:mod:`~ecorec.features.impressions`), point-in-time features (:mod:`~ecorec.features.platform`)
with vocabularies fitted on the earliest part only, cut by time so that validation and test
rows all happened after every training row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import torch
from pydantic import BaseModel, ConfigDict, Field

from ecorec.core.events import POSITIVE_TYPES
from ecorec.features.entities import Entities
from ecorec.features.impressions import (
    OBJECTIVES,
    LabelConfig,
    impression_samples,
    positive_events,
)
from ecorec.features.platform import PlatformFeatures
from ecorec.features.rows import RawRows, offline_rows
from ecorec.features.schema import Schema, TensorTable
from ecorec.features.vocab import Vocabulary

#: Fewest impressions a split is built from.
MIN_IMPRESSIONS = 20


class FeatureConfig(BaseModel):
    """How impressions become labelled feature rows.

    Attributes:
        max_history: the behaviour sequence width (DIN/DIEN attend over it).
        max_tags: the widest tag bag kept per item.
        finish_threshold, skip_seconds, window, rating_threshold: see
            :class:`~ecorec.features.impressions.LabelConfig`.
        max_samples: keep only the latest this many impressions (``None``: all).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_history: int = Field(50, ge=1)
    max_tags: int = Field(8, ge=1)
    finish_threshold: float = Field(0.8, gt=0.0, le=1.0)
    skip_seconds: float = Field(3.0, ge=0.0)
    window: float = Field(3600.0, gt=0.0)
    rating_threshold: float = 4.0
    max_samples: int | None = Field(None, ge=MIN_IMPRESSIONS)

    def labels(self) -> LabelConfig:
        return LabelConfig(
            self.finish_threshold, self.skip_seconds, self.window, self.rating_threshold
        )


@dataclass
class PlatformSplit:
    """Time-ordered parts of a platform's impressions, with the fitted encoder.

    Attributes:
        features: the encoder (vocabularies from the train part).
        schema: the model schema (fields and ``objectives``).
        train, valid, test: the parts (``test`` is empty when two ratios were asked for).
        raw: the raw rows of each part (online/offline parity tests compare against them).

    """

    features: PlatformFeatures
    schema: Schema
    train: TensorTable
    valid: TensorTable
    test: TensorTable
    raw: dict[str, RawRows] = field(default_factory=dict)

    @property
    def vocabularies(self) -> dict[str, Vocabulary]:
        """Feature -> vocabulary (the fitted encoder's)."""
        return self.features.vocabularies

    def summary(self) -> dict[str, Any]:
        """Rows and the positive rate of each objective per part, JSON-ready."""
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        return {
            "rows": {name: len(t) for name, t in parts.items()},
            "positive_rate": {
                objective: {
                    name: _known_mean(t.labels[objective].numpy()) for name, t in parts.items()
                }
                for objective in self.schema.objectives
            },
            "vocab_sizes": {k: v.size for k, v in self.features.vocabularies.items()},
        }


def build_platform_split(
    events: pa.Table,
    entities: Entities,
    objectives: Sequence[str] = ("click", "like", "finish", "negative"),
    config: FeatureConfig | None = None,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    key: Literal["item_id", "ad_id"] = "item_id",
) -> PlatformSplit:
    """Label every item impression of ``events`` and cut the rows by time.

    Args:
        events: the platform's events (:data:`~ecorec.data.events.EVENT_SCHEMA`).
        entities: users, items and creators (item durations label ``finish``).
        objectives: labels to carry, the first primary (see :data:`OBJECTIVES`).
        config: the :class:`FeatureConfig`.
        ratios: train/valid(/test) shares of the time-sorted impressions.
        key: ``ad_id`` ranks ad impressions instead: ``entities.items`` must then hold each
            ad as an item (its id, advertiser as creator, category, landing quality).

    Raises:
        ValueError: unknown objectives, too few impressions, bad ratios.

    """
    cfg = config or FeatureConfig.model_validate({})
    unknown = sorted(set(objectives) - set(OBJECTIVES))
    if unknown or not objectives:
        raise ValueError(f"unknown objectives {unknown}; known: {', '.join(OBJECTIVES)}")
    durations = pa.table(
        {
            "item_id": pa.array(list(entities.items), pa.string()),
            "duration": pa.array([i.duration for i in entities.items.values()], pa.float64()),
        }
    )
    samples = impression_samples(events, durations, cfg.labels(), key)
    if key == "ad_id":
        samples = samples.rename_columns(
            ["item_id" if c == key else c for c in samples.column_names]
        )
    if cfg.max_samples is not None and samples.num_rows > cfg.max_samples:
        samples = samples.slice(samples.num_rows - cfg.max_samples)
    if samples.num_rows < MIN_IMPRESSIONS:
        raise ValueError(
            f"ranking needs at least {MIN_IMPRESSIONS} item impressions to learn from, "
            f"the event log has {samples.num_rows}: log impressions (type 'impression') with "
            "the items shown, or ratings"
        )
    bounds = _bounds(samples.num_rows, ratios)
    rows = offline_rows(samples, positive_events(events, POSITIVE_TYPES), cfg.max_history)
    parts = {name: rows.take(sl) for name, sl in bounds.items()}
    features = PlatformFeatures.fit(parts["train"], entities, cfg.max_history, cfg.max_tags)
    schema = features.schema(objectives)
    labels = {o: samples.column(o).to_numpy(zero_copy_only=False) for o in objectives}
    tables = {
        name: TensorTable(
            features.encode(parts[name], entities),
            {
                o: torch.from_numpy(np.asarray(v[sl], dtype=np.float32).copy())
                for o, v in labels.items()
            },
            parts[name].user_id.astype(object),
        )
        for name, sl in bounds.items()
    }
    return PlatformSplit(features, schema, tables["train"], tables["valid"], tables["test"], parts)


def _known_mean(labels: np.ndarray) -> float:
    """Mean of the known (non-NaN) labels; NaN when none is known (ratings label no likes)."""
    known = labels[~np.isnan(labels)]
    return float(known.mean()) if len(known) else math.nan


def _bounds(n: int, ratios: Sequence[float]) -> dict[str, slice]:
    """Slices of the train, valid and test parts of ``n`` time-sorted rows."""
    shares = np.asarray(ratios, dtype=np.float64)
    if len(shares) not in (2, 3) or not np.isfinite(shares).all() or (shares <= 0).any():
        raise ValueError(f"ratios must be 2 or 3 positive shares, got {tuple(ratios)}")
    ends = [int(math.floor(n * c + 1e-9)) for c in np.cumsum(shares) / shares.sum()]
    ends[-1] = n
    starts = [0, *ends[:-1]]
    if any(e <= s for s, e in zip(starts, ends, strict=True)):
        raise ValueError(f"ratios {tuple(ratios)} leave an empty part of {n} impressions")
    names = ("train", "valid", "test")
    out = {name: slice(s, e) for name, s, e in zip(names, starts, ends, strict=False)}
    out.setdefault("test", slice(n, n))
    return out
