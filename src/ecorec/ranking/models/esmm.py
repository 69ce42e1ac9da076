"""ESMM (Ma et al., SIGIR 2018): conversion modelled over the entire impression space.

Diagram: shared embeddings feed a CTR tower and a CVR tower (each an MLP plus a first-order
weight per id, as Wide&Deep's wide part); the model outputs pCTR (``click``)
and pCTCVR = pCTR x pCVR (``convert``), both supervised on every impression. CVR itself is
never fitted on clicked rows only, which is what biases a CVR model by sample selection and
starves it of data.

``convert`` is returned as the logit of pCTR x pCVR, computed without forming the product:
with ``a``, ``b`` the two towers' logits, ``p / (1 - p) = e^{a+b} / (1 + e^a + e^b)``, so
``logit = a + b - logsumexp(0, a, b)``, the same number as ``log p - log(-expm1(log p))`` with
``log p = logsigmoid(a) + logsigmoid(b)`` but finite for any logits.

Objectives other than ``click`` and ``convert`` get their own tower on the shared
embeddings. With objectives ``("click",)`` alone ESMM is its CTR tower. ``convert`` needs
``click`` among the objectives (pCTCVR is the product with it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecorec.features.schema import Batch, FieldKind, Schema
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.modules import SchemaEmbedding, Tower


def ctcvr_logit(ctr: torch.Tensor, cvr: torch.Tensor) -> torch.Tensor:
    """Logit of ``sigmoid(ctr) * sigmoid(cvr)``, stable for any logits."""
    zero = torch.zeros_like(ctr)
    return ctr + cvr - torch.logsumexp(torch.stack([zero, ctr, cvr]), 0)


class ESMM(RankingModel):
    """Entire Space Multi-task Model over a schema.

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("user_id", FieldKind.SPARSE, 10),
        ...                  Field("item_id", FieldKind.SPARSE, 20)), ("click", "convert"))
        >>> out = ESMM(schema)({"user_id": torch.tensor([2]), "item_id": torch.tensor([5])})
        >>> sorted(out)
        ['click', 'convert']

    """

    name = "esmm"

    def __init__(self, schema: Schema, config: ModelConfig | dict[str, Any] | None = None) -> None:
        super().__init__(schema, config)
        if "convert" in schema.objectives and "click" not in schema.objectives:
            raise ValueError("ESMM predicts convert as pCTR x pCVR: add 'click' to the objectives")
        c = self.config
        # each tower also gets a first-order (wide) weight per id: a conversion rate that is a
        # property of the ad is then memorised directly, not rebuilt by the MLP from vectors
        self.embedding = SchemaEmbedding(schema, c.embedding_dim, linear=len(schema.objectives))
        width = self.embedding.n_fields * c.embedding_dim + len(schema.of_kind(FieldKind.DENSE))
        #: one tower per objective; the ``convert`` tower predicts CVR (conversion given click).
        self.towers = nn.ModuleDict(
            {objective: Tower(width, c.mlp, c.dropout) for objective in schema.objectives}
        )

    def tower_logits(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Each tower's own logit (``convert``: the CVR tower, before the product)."""
        x = self.embedding(batch)
        flat, linear = x.flat(), x.linear
        assert linear is not None
        return {
            objective: tower(flat) + linear[:, k]
            for k, (objective, tower) in enumerate(self.towers.items())
        }

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.tower_logits(batch)
        if "convert" in logits:
            logits["convert"] = ctcvr_logit(logits["click"], logits["convert"])
        return logits
