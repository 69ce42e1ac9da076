"""Popular recall: time-decayed counts of positive interactions.

The channel every platform keeps: it serves brand-new users, users without personalisation
consent, and is the last fallback when the personalised channels are missing. Decay keeps it
"trending" rather than "all-time": an interaction ``half_life_days`` old weighs half.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData

_DAY = 86_400.0


class PopularConfig(ComponentConfig):
    """``n`` candidates per request, decayed with ``half_life_days`` (0 = no decay).

    ``exclude_seen`` skips what the user already consumed here, so the quota is not spent on
    items merge would drop anyway.
    """

    n: int = Field(500, gt=0)
    half_life_days: float = Field(7.0, ge=0)
    exclude_seen: bool = True


class PopularRecall(Component):
    """Top items by decayed positive-interaction count.

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

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Count every positive interaction, weighted by its age at ``data.now()``."""
        now = data.now()
        totals: dict[str, float] = {}
        for batch in data.interactions():
            if not batch.num_rows:
                continue
            items = batch.column("item_id")
            if self.config.half_life_days > 0:
                age = now - batch.column("ts").to_numpy(zero_copy_only=False)
                weights = np.exp2(-np.maximum(age, 0.0) / (self.config.half_life_days * _DAY))
            else:
                weights = np.ones(batch.num_rows)
            encoded = pc.dictionary_encode(items).combine_chunks()
            sums = np.bincount(
                encoded.indices.to_numpy(zero_copy_only=False),
                weights=weights,
                minlength=len(encoded.dictionary),
            )
            for item_id, weight in zip(encoded.dictionary.to_pylist(), sums, strict=True):
                totals[item_id] = totals.get(item_id, 0.0) + float(weight)
        if not totals:
            raise ValueError(
                "popular: no positive interactions to learn from (ingest or generate data first)"
            )
        ids = np.array(list(totals), dtype=str)
        scores = np.fromiter(totals.values(), dtype=float, count=len(totals))
        order = np.lexsort((ids, -scores))
        self.item_ids, self.scores = ids[order], scores[order]

    def is_trained(self) -> bool:
        return self.item_ids is not None

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.item_ids is None or self.scores is None:
            raise NotTrainedError(self)
        skip = profile.negatives | profile.seen if self.config.exclude_seen else profile.negatives
        out: list[Candidate] = []
        for item_id, score in zip(self.item_ids, self.scores, strict=True):
            if len(out) >= self.config.n:
                break
            if item_id not in skip:
                out.append(Candidate(str(item_id), float(score), self.name))
        return out

    def save(self, folder: Path) -> dict[str, Any]:
        if self.item_ids is None or self.scores is None:
            raise NotTrainedError(self)
        np.save(folder / "item_ids.npy", self.item_ids, allow_pickle=False)
        np.save(folder / "scores.npy", self.scores, allow_pickle=False)
        metrics = {"items": int(len(self.item_ids))}
        (folder / "meta.json").write_text(json.dumps(metrics))
        return metrics

    def load(self, folder: Path) -> None:
        self.item_ids = np.load(folder / "item_ids.npy", allow_pickle=False)
        self.scores = np.load(folder / "scores.npy", allow_pickle=False)
