"""Fully connected stacks: the deep part of every model, and its per-objective heads."""

from __future__ import annotations

from itertools import islice

import torch
from torch import nn
from torch.nn import functional


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
        self._splits: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def first(self) -> nn.Linear | None:
        """The first layer (``None`` for the identity)."""
        layer = self[0] if len(self) else None
        return layer if isinstance(layer, nn.Linear) else None

    def forward_shared(
        self, x: torch.Tensor, shared: tuple[int, ...], rest: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``self(x)`` when the columns ``shared`` of ``x`` hold the same value on every row.

        The first layer multiplies those columns once, not once per row: one request's user,
        context and behaviour scored against hundreds of candidates cost a single row. The
        first layer's sum is split in two, so the result equals ``self(x)`` up to float
        rounding.

        Args:
            x: ``(B, in_dim)`` the input.
            shared: the columns of ``x`` that are the same on every row.
            rest: ``(B, H)`` the first layer's product with the other columns, when the caller
                has it already (:meth:`SchemaEmbedding.project`): only row 0 of ``x`` is read.

        """
        first = self.first
        if first is None or not shared or len(x) < 2:
            whole: torch.Tensor = self(x)
            return whole
        found = self._splits.get(shared)
        if found is None or found[0].device != x.device:
            same = torch.tensor(shared, dtype=torch.long, device=x.device)
            others = torch.ones(x.shape[1], dtype=torch.bool, device=x.device)
            others[same] = False
            found = self._splits[shared] = (same, others.nonzero().squeeze(1))
        same, others = found
        weight = first.weight
        once = functional.linear(x[:1].index_select(1, same), weight.index_select(1, same))
        if rest is None:
            rest = functional.linear(x.index_select(1, others), weight.index_select(1, others))
        out = rest + first.bias + once
        for layer in islice(self, 1, None):
            out = layer(out)
        return out


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
