"""MMoE's shared experts and per-task softmax gates (Ma et al., KDD 2018).

Every expert reads the same input, so the experts' first layers are one wide matrix product
and the later layers one batched product over the expert axis, instead of a loop of small
MLPs.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Experts(nn.Module):
    """``n`` independent ReLU MLPs over one input, evaluated together.

    Args:
        in_dim: width of the input.
        n: number of experts.
        hidden: each expert's hidden widths (non-empty).

    Example:
        >>> Experts(8, 4, (16,))(torch.zeros(2, 8)).shape
        torch.Size([2, 4, 16])

    """

    def __init__(self, in_dim: int, n: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("experts need at least one hidden layer")
        self.n = n
        widths = (in_dim, *hidden)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(widths, widths[1:], strict=False):
            bound = 1.0 / math.sqrt(a)  # nn.Linear's default initialisation, per expert
            self.weights.append(nn.Parameter(torch.empty(n, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, b).uniform_(-bound, bound)))
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim)`` -> every expert's output ``(B, n, out_dim)``."""
        first, *rest = self.weights
        w = first.permute(1, 0, 2).reshape(first.shape[1], -1)  # (in, n * out)
        h = torch.relu((x @ w).view(x.shape[0], self.n, -1) + self.biases[0])
        for weight, bias in zip(rest, self.biases[1:], strict=True):
            h = torch.relu(torch.einsum("bni,nio->bno", h, weight) + bias)
        return h


class Gates(nn.Module):
    """One softmax gate per task over the experts (a single ``Linear`` for all tasks).

    Args:
        in_dim: width of the input.
        n_experts: number of experts.
        n_tasks: number of tasks.

    """

    def __init__(self, in_dim: int, n_experts: int, n_tasks: int) -> None:
        super().__init__()
        self.n_experts, self.n_tasks = n_experts, n_tasks
        self.linear = nn.Linear(in_dim, n_experts * n_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim)`` -> weights ``(B, n_tasks, n_experts)``, each row summing to 1."""
        return torch.softmax(self.linear(x).view(-1, self.n_tasks, self.n_experts), -1)


def mix(gates: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Each task's gated sum of experts: ``(B, T, n)`` x ``(B, n, H)`` -> ``(B, T, H)``."""
    return torch.bmm(gates, experts)
