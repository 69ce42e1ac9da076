"""DIN (Zhou et al., KDD 2018): the user's interest pooled by attention to the candidate.

Diagram: the candidate (``schema.target``) and the behaviour sequence (``schema.sequence``,
sharing the candidate's embedding table) go through the local activation unit; the
attention-weighted sum of the behaviours is concatenated with every other field embedding and
the dense values, and an MLP predicts each objective.

Without a sequence field in the schema there is nothing to attend to and DIN is exactly the
deep model (embeddings -> MLP), so the same ``--model din`` still runs on such data.

A serving request is one user's features and history against many candidates: the history is
then embedded once and every candidate attends to the same keys in one matrix product (see
:mod:`ecorec.ranking.modules.attention`), the same function as row by row.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import MLP, Heads, SchemaEmbedding, TargetAttention


class DINConfig(ModelConfig):
    """DIN's hyper-parameters.

    Attributes:
        attention_mlp: hidden widths of the local activation unit (the paper's 80, 40).

    """

    attention_mlp: tuple[int, ...] = Field((80, 40), min_length=1)


class DIN(RankingModel):
    """Deep Interest Network over a schema.

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("item_id", FieldKind.SPARSE, 20),
        ...                  Field("history", FieldKind.SEQUENCE, max_len=5, embed="item_id")),
        ...                 sequence="history")
        >>> batch = {"item_id": torch.tensor([3]), "history": torch.tensor([[3, 4, 0, 0, 0]])}
        >>> DIN(schema)(batch)["click"].shape
        torch.Size([1])

    """

    name = "din"
    Config = DINConfig

    def __init__(self, schema: Schema, config: DINConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        c = self.config
        assert isinstance(c, DINConfig)
        self.embedding = SchemaEmbedding(schema, c.embedding_dim, attend=schema.sequence)
        self.target = self.embedding.index(schema.target)
        self.attention = (
            TargetAttention(c.embedding_dim, c.attention_mlp) if schema.sequence else None
        )
        width = self.embedding.n_fields * c.embedding_dim + len(schema.of_kind(FieldKind.DENSE))
        if self.attention is not None:
            width += c.embedding_dim
        self.mlp = MLP(width, c.mlp, c.dropout)
        self.heads = Heads(self.mlp.out_dim, schema.objectives)

    def interest(self, batch: Batch) -> torch.Tensor:
        """The attention-pooled behaviour ``(B, D)`` for each row's candidate."""
        x = self.embedding(batch, share_history=True)
        assert self.attention is not None and x.sequence is not None and x.mask is not None
        out: torch.Tensor = self.attention(x.fields[:, self.target], x.sequence, x.mask)
        return out

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.embedding(batch, share_history=self.attention is not None)
        if self.attention is None:
            logits: dict[str, torch.Tensor] = self.heads(self.mlp(x.flat()))
            return logits
        assert x.sequence is not None and x.mask is not None
        candidate = x.fields[:, self.target]
        interest = self.attention(candidate, x.sequence, x.mask)
        logits = self.heads(self.mlp(x.flat(interest)))
        return logits
