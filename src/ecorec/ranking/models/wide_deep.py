"""Wide & Deep (Cheng et al., 2016): a linear model over ids beside an MLP over embeddings.

The wide part memorises (one scalar weight per id of every sparse field, the mean weight of
the ids in each multi field or sequence, plus a weight per dense value); the deep part
generalises (an MLP over the concatenated field embeddings). Their logits add up. With
several objectives the embeddings and the MLP are shared and each objective has its own wide
weights and output layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import MLP, Heads, SchemaEmbedding


class WideDeep(RankingModel):
    """Wide & Deep over a schema.

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("user_id", FieldKind.SPARSE, 10),
        ...                  Field("item_id", FieldKind.SPARSE, 20)))
        >>> model = WideDeep(schema)
        >>> model({"user_id": torch.tensor([2]), "item_id": torch.tensor([5])})["click"].shape
        torch.Size([1])

    """

    name = "wide_deep"

    def __init__(self, schema: Schema, config: ModelConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        c, n_objectives = self.config, len(schema.objectives)
        self.embedding = SchemaEmbedding(schema, c.embedding_dim, linear=n_objectives)
        n_dense = len(schema.of_kind(FieldKind.DENSE))
        self.wide_dense = nn.Linear(n_dense, n_objectives) if n_dense else None
        self.deep = MLP(self.embedding.n_fields * c.embedding_dim + n_dense, c.mlp, c.dropout)
        self.heads = Heads(self.deep.out_dim, schema.objectives)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.embedding(batch)
        wide = x.linear
        if self.wide_dense is not None and x.dense is not None:
            wide = wide + self.wide_dense(x.dense)
        deep = self.deep.forward_shared(x.flat(), x.flat_shared())
        logits: dict[str, torch.Tensor] = self.heads(deep, offset=wide)
        return logits
