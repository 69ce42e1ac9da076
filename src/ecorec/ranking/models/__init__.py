"""Ranking models by ``--model`` name, imported only when asked for.

This module stays free of torch at import time, so the CLI can list model names without
paying for it; :func:`model_class` and :func:`build_model` import what they return.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecorec.features.schema import Schema
    from ecorec.ranking.models.base import RankingModel

#: name -> "module:Class"; :func:`model_class` imports on first use.
MODELS = {
    "wide_deep": "ecorec.ranking.models.wide_deep:WideDeep",
    "deepfm": "ecorec.ranking.models.deepfm:DeepFM",
    "din": "ecorec.ranking.models.din:DIN",
    "dien": "ecorec.ranking.models.dien:DIEN",
    "esmm": "ecorec.ranking.models.esmm:ESMM",
    "mmoe": "ecorec.ranking.models.mmoe:MMoE",
}


def model_class(name: str) -> type[RankingModel]:
    """The model class registered as ``name``; a clear error for an unknown one."""
    if name not in MODELS:
        raise ValueError(f"unknown ranking model {name!r}; known: {', '.join(MODELS)}")
    module, cls = MODELS[name].split(":")
    found: type[RankingModel] = getattr(importlib.import_module(module), cls)
    return found


def build_model(name: str, schema: Schema, config: dict[str, Any] | None = None) -> RankingModel:
    """A fresh ``name`` model, initialised from its config's ``seed`` (reproducible)."""
    import torch

    cls = model_class(name)
    validated = cls.Config.model_validate(config or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(validated.seed)
        return cls(schema, validated)


__all__ = ["MODELS", "build_model", "model_class"]
