"""DeepFM (Guo et al., 2017): first-order, FM second-order and a DNN on shared embeddings.

The three parts read the same field embeddings (no separate wide features to engineer): the
linear term memorises single ids, the factorization machine every pair of fields, and the
DNN higher-order interactions. With several objectives the DNN is shared with one output per
objective, each objective has its own first-order weights and its own scale on the FM term.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import MLP, FactorizationMachine, Heads, SchemaEmbedding


class DeepFM(RankingModel):
    """DeepFM over a schema (dense fields enter the linear term and the DNN, not the FM).

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("user_id", FieldKind.SPARSE, 10),
        ...                  Field("item_id", FieldKind.SPARSE, 20)))
        >>> model = DeepFM(schema)
        >>> model({"user_id": torch.tensor([2]), "item_id": torch.tensor([5])})["click"].shape
        torch.Size([1])

    """

    name = "deepfm"

    def __init__(self, schema: Schema, config: ModelConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        c, n_objectives = self.config, len(schema.objectives)
        self.embedding = SchemaEmbedding(schema, c.embedding_dim, linear=n_objectives)
        n_dense = len(schema.of_kind(FieldKind.DENSE))
        self.linear_dense = nn.Linear(n_dense, n_objectives) if n_dense else None
        self.fm = FactorizationMachine()
        self.fm_scale = nn.Parameter(torch.ones(n_objectives))
        self.dnn = MLP(self.embedding.n_fields * c.embedding_dim + n_dense, c.mlp, c.dropout)
        self.heads = Heads(self.dnn.out_dim, schema.objectives)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.embedding(batch)
        first_order = x.linear
        if self.linear_dense is not None and x.dense is not None:
            first_order = first_order + self.linear_dense(x.dense)
        second_order = self.fm(x.fields).unsqueeze(1) * self.fm_scale
        rest = None
        first = self.dnn.first
        if x.shared and x.dense is None and first is not None and not torch.is_grad_enabled():
            # one request's rows: the candidates' own fields through projected tables
            names = self.embedding.names
            own = tuple(n for k, n in enumerate(names) if k not in x.shared)
            rest = self.embedding.project(batch, own, first.weight) if own else None
        hidden = self.dnn.forward_shared(x.flat(), x.flat_shared(), rest)
        logits: dict[str, torch.Tensor] = self.heads(hidden, offset=first_order + second_order)
        return logits
