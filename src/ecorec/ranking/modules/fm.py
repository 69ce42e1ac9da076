"""The factorization machine's second-order term (Rendle 2010), as used by DeepFM."""

from __future__ import annotations

import torch
from torch import nn


class FactorizationMachine(nn.Module):
    """Sum of the pairwise dot products of field vectors, in ``O(F D)``.

    ``sum_{i<j} <v_i, v_j> = ((sum_i v_i)^2 - sum_i v_i^2) / 2``, summed over the embedding
    dimension: every pair of fields interacts without enumerating the pairs.

    Example:
        >>> v = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> FactorizationMachine()(v)  # 11 + 17 + 39
        tensor([67.])

    """

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        """``(B, F, D)`` field vectors -> ``(B,)`` second-order term."""
        square_of_sum = fields.sum(1).square()
        sum_of_squares = fields.square().sum(1)
        return 0.5 * (square_of_sum - sum_of_squares).sum(1)
