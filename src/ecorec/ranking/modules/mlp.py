"""Fully connected stacks: the deep part of every model, and its per-objective heads."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear layers, each followed by ReLU and (when ``dropout > 0``) dropout.

    Args:
        in_dim: width of the input.
        hidden: width of each hidden layer (empty: the identity).
        dropout: dropout rate after each hidden layer.

    Example:
        >>> MLP(32, (256, 128))(torch.zeros(4, 32)).shape
        torch.Size([4, 128])

    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = width
        super().__init__(*layers)
        #: width of the output.
        self.out_dim = in_dim


class Heads(nn.Module):
    """One logit per objective from a shared representation (a single ``Linear``).

    Args:
        in_dim: width of the shared representation.
        objectives: the objective names, in the order of the output columns.

    """

    def __init__(self, in_dim: int, objectives: tuple[str, ...]) -> None:
        super().__init__()
        self.objectives = objectives
        self.linear = nn.Linear(in_dim, len(objectives))

    def forward(
        self, x: torch.Tensor, offset: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Objective -> logit ``(B,)``; ``offset`` ``(B, T)`` or ``(B, 1)`` is added first."""
        logits = self.linear(x)
        if offset is not None:
            logits = logits + offset
        return dict(zip(self.objectives, logits.unbind(1), strict=True))


class Tower(nn.Module):
    """A task-specific MLP ending in one logit (ESMM's and MMoE's towers).

    Args:
        in_dim: width of the input.
        hidden: the tower's hidden widths.
        dropout: dropout rate after each hidden layer.

    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, hidden, dropout)
        self.out = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit ``(B,)``."""
        logit: torch.Tensor = self.out(self.mlp(x))
        return logit.squeeze(-1)
