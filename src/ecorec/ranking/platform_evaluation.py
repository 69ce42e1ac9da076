"""``ecorec evaluate rank`` on a platform's own event log: every objective, judged by time.

Where protocol P3 labels MovieLens ratings, a platform (the synthetic one, or a real one's
database) has impressions and what followed them. The same protocol name, ``ctr-temporal``,
means the same thing here: impressions sorted by time, the first 80% train, the next 10%
validation (early stopping), the last 10% test, every vocabulary fitted on the train part.
Each objective the model learns gets its AUC, log loss and GAUC (``objectives`` in the
report of :func:`~ecorec.ranking.evaluation.evaluate_rank`); ``valid``/``test`` hold the
primary one (the first objective), as on P3.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecorec.core.config import ConfigError, StorageConfig
from ecorec.data.stores import Stores
from ecorec.features.entities import Entities
from ecorec.features.impressions import event_table
from ecorec.features.platform_split import PlatformSplit, build_platform_split
from ecorec.ranking.models import MODELS
from ecorec.ranking.ranker import RANKER_CLASSES
from ecorec.ranking.training import TrainConfig

_URL_SCHEMES = ("sqlite://", "postgresql://", "postgres://")


def is_platform(data: str) -> bool:
    """Whether ``--data`` names a platform database rather than a ratings dataset."""
    return data.startswith(_URL_SCHEMES) or Path(data).suffix in (".db", ".sqlite")


def database_url(data: str) -> str:
    """``data`` as a database URL (a bare ``.db`` path becomes ``sqlite:///path``)."""
    if data.startswith(_URL_SCHEMES):
        return data
    path = Path(data)
    if not path.is_file():
        raise ValueError(f"--data {data}: no such database file")
    return f"sqlite:///{path.resolve()}"


def platform_split(
    data: str, model: str, params: Mapping[str, Any]
) -> tuple[PlatformSplit, dict[str, Any], TrainConfig]:
    """The split of a platform's impressions, the model's parameters and the training config.

    Args:
        data: a database URL or a SQLite file written by ``ecorec generate`` / ``ingest``.
        model: a name from :data:`~ecorec.ranking.models.MODELS`.
        params: flat ranker, feature, model and training keys (as ``[pipeline.rank.<model>]``,
            e.g. ``objectives``, ``max_history``, ``embedding_dim``, ``epochs``).

    """
    if model not in MODELS:
        raise ValueError(f"unknown ranking model {model!r}; known: {', '.join(MODELS)}")
    ranker = RANKER_CLASSES[model]
    try:
        cfg = ranker.flat_config(dict(params))
        train_config = TrainConfig.model_validate(cfg.train)
    except ValueError as exc:
        raise ConfigError(f"parameters of ranking model {model!r}: {exc}") from None
    stores = Stores(StorageConfig(database_url=database_url(data)))
    try:
        events = event_table(stores.events)
        entities = Entities.from_catalog(stores.catalog)
    finally:
        stores.close()
    split = build_platform_split(events, entities, cfg.objectives, cfg.features)
    return split, dict(cfg.model), train_config
