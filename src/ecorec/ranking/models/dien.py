"""DIEN (Zhou et al., AAAI 2019): interests extracted by a GRU, evolved towards the candidate.

Diagram: behaviour embeddings -> interest extractor (GRU; auxiliary loss: each state must
tell the next real behaviour from a random item) -> attention of each state to the candidate
-> interest evolution (AUGRU) -> final interest, concatenated with every field embedding and
the dense values -> MLP -> one logit per objective. As in the authors' code
(``Model_DIN_V2_Gru_Vec_attGru_Neg``), the MLP also reads the sum of the behaviour embeddings
and its product with the candidate: a direct "seen something like this" signal that the
softmax-normalised attention alone cannot carry.

Variable lengths: a row's length is its count of non-PAD behaviours (padding on the right);
the AUGRU's attention is 0 past it, so the final interest is the state at the last real
behaviour, and a row without history keeps the zero interest (no NaN). Without a sequence
field in the schema DIEN is the deep model (embeddings -> MLP).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import (
    MLP,
    Heads,
    InterestEvolution,
    InterestExtractor,
    SchemaEmbedding,
)


class DIENConfig(ModelConfig):
    """DIEN's hyper-parameters.

    Attributes:
        auxiliary_weight: weight of the auxiliary loss (the paper's alpha).

    """

    auxiliary_weight: float = Field(1.0, ge=0.0)


class DIEN(RankingModel):
    """Deep Interest Evolution Network over a schema.

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("item_id", FieldKind.SPARSE, 20),
        ...                  Field("history", FieldKind.SEQUENCE, max_len=5, embed="item_id")),
        ...                 sequence="history")
        >>> batch = {"item_id": torch.tensor([3]), "history": torch.tensor([[3, 4, 0, 0, 0]])}
        >>> DIEN(schema)(batch)["click"].shape
        torch.Size([1])

    """

    name = "dien"
    Config = DIENConfig

    def __init__(self, schema: Schema, config: DIENConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        c = self.config
        assert isinstance(c, DIENConfig)
        dim = c.embedding_dim
        self.embedding = SchemaEmbedding(schema, dim, attend=schema.sequence)
        self.target = self.embedding.index(schema.target)
        self.extractor = InterestExtractor(dim) if schema.sequence else None
        self.evolution = InterestEvolution(dim) if schema.sequence else None
        width = self.embedding.n_fields * dim + len(schema.of_kind(FieldKind.DENSE))
        if schema.sequence:
            width += 3 * dim
        self.mlp = MLP(width, c.mlp, c.dropout)
        self.heads = Heads(self.mlp.out_dim, schema.objectives)
        self._auxiliary: torch.Tensor | None = None

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.embedding(batch)
        self._auxiliary = None
        if self.extractor is None or self.evolution is None:
            logits: dict[str, torch.Tensor] = self.heads(self.mlp(x.flat()))
            return logits
        assert x.sequence is not None and x.mask is not None
        candidate = x.fields[:, self.target]
        states = self.extractor(x.sequence)
        if self.training:
            self._auxiliary = self.extractor.auxiliary_loss(
                states, x.sequence, self._negatives(x.sequence), x.mask
            )
        interest = self.evolution(states, candidate, x.mask)
        history = x.sequence.sum(1)  # PAD vectors are zero
        logits = self.heads(self.mlp(x.flat(history, candidate * history, interest)))
        return logits

    def _negatives(self, behaviours: torch.Tensor) -> torch.Tensor:
        """A uniformly sampled real item (code >= 2) for each next position ``(B, L - 1, D)``.

        Drawn from torch's global generator, like dropout: a trainer that seeds it (in a
        forked RNG) makes DIEN's training reproducible.
        """
        assert self.schema.sequence is not None
        vocab = self.embedding.vocab_of(self.schema.sequence)
        low = min(2, vocab - 1)
        shape = (behaviours.shape[0], max(behaviours.shape[1] - 1, 0))
        codes = torch.randint(low, vocab, shape, device=behaviours.device)
        return self.embedding.lookup(self.schema.sequence, codes)

    def auxiliary_loss(self) -> torch.Tensor | None:
        """The weighted auxiliary loss of the last training forward (``None`` in eval mode)."""
        if self._auxiliary is None:
            return None
        weight: float = self.config.auxiliary_weight  # type: ignore[attr-defined]
        return weight * self._auxiliary
