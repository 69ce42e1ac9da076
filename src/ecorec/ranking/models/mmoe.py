"""MMoE (Ma et al., KDD 2018): tasks share experts through their own softmax gates.

Diagram: shared embeddings -> ``experts`` expert MLPs; per objective a softmax gate over the
experts mixes their outputs, and a tower (the shared ``mlp`` widths) turns the mix into that
objective's logit. Tasks that disagree (click vs negative feedback) can lean on different
experts instead of fighting over one shared bottom.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import Experts, Gates, SchemaEmbedding, Tower, mix


class MMoEConfig(ModelConfig):
    """MMoE's hyper-parameters.

    Attributes:
        experts: number of shared experts.
        expert_mlp: hidden widths of each expert.

    """

    experts: int = Field(4, gt=0)
    expert_mlp: tuple[int, ...] = Field((128,), min_length=1)


class MMoE(RankingModel):
    """Multi-gate Mixture-of-Experts over a schema.

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("user_id", FieldKind.SPARSE, 10),
        ...                  Field("item_id", FieldKind.SPARSE, 20)), ("click", "like"))
        >>> out = MMoE(schema)({"user_id": torch.tensor([2]), "item_id": torch.tensor([5])})
        >>> out["like"].shape
        torch.Size([1])

    """

    name = "mmoe"
    Config = MMoEConfig

    def __init__(self, schema: Schema, config: MMoEConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        c = self.config
        assert isinstance(c, MMoEConfig)
        self.embedding = SchemaEmbedding(schema, c.embedding_dim)
        width = self.embedding.n_fields * c.embedding_dim + len(schema.of_kind(FieldKind.DENSE))
        self.experts = Experts(width, c.experts, c.expert_mlp)
        self.gates = Gates(width, c.experts, len(schema.objectives))
        self.towers = nn.ModuleDict(
            {o: Tower(self.experts.out_dim, c.mlp, c.dropout) for o in schema.objectives}
        )

    def gate_weights(self, batch: Batch) -> torch.Tensor:
        """``(B, T, experts)`` each objective's weights over the experts (rows sum to 1)."""
        out: torch.Tensor = self.gates(self.embedding(batch).flat())
        return out

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.embedding(batch).flat()
        mixed = mix(self.gates(x), self.experts(x))
        return {o: tower(mixed[:, t]) for t, (o, tower) in enumerate(self.towers.items())}
