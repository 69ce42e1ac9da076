"""What every ranking model is: a torch module over a :class:`Schema` that predicts logits.

A model reads a batch (field name -> tensor, see :mod:`ecorec.features.schema`) and returns
one logit per objective, shape ``(B,)``; the trainer applies the losses and the ranker the
sigmoid. Keeping logits (not probabilities) lets the loss use ``BCEWithLogits``, which is
stable where a probability saturates. A model with an extra training signal (DIEN's
auxiliary loss) returns it from :meth:`RankingModel.auxiliary_loss` after a forward pass.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ecorec.features.schema import Batch, Schema


class ModelConfig(BaseModel):
    """Hyper-parameters shared by the models (each model may add its own).

    Attributes:
        embedding_dim: width of every field embedding.
        mlp: hidden layer widths of the deep part.
        dropout: dropout after each hidden layer.
        seed: initialisation seed, applied by :func:`~ecorec.ranking.models.build_model`
            inside a forked RNG (library code never seeds the global generator).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_dim: int = Field(default=16, gt=0)
    mlp: tuple[int, ...] = (256, 128)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    seed: int = 2020


class RankingModel(nn.Module):
    """Base of ranking models: stores the schema and a validated config.

    Subclasses set ``name`` (the ``--model`` value) and ``Config``, build their blocks in
    ``__init__`` after calling ``super().__init__``, and implement :meth:`forward`.
    """

    name: ClassVar[str] = "model"
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, schema: Schema, config: ModelConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config.model_validate(config)
        self.schema = schema
        self.config = config

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Objective name -> logit ``(B,)`` for every objective of the schema."""
        raise NotImplementedError

    def auxiliary_loss(self) -> torch.Tensor | None:
        """An extra loss term computed by the last training forward pass (default none)."""
        return None
