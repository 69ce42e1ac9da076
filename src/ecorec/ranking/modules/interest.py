"""DIEN's interest blocks (Zhou et al. 2019): a GRU extractor and the AUGRU evolution layer.

The extractor runs a GRU over the behaviour embeddings; its auxiliary loss asks each hidden
state ``h_t`` to tell the next real behaviour ``e_{t+1}`` from a sampled negative (the paper's
inner product ``sigma(h_t . e)``), which gives every state its own supervision instead of
only the final one. The evolution layer is a GRU whose update gate is scaled by the
attention of each state to the candidate (AUGRU), so behaviours unrelated to the candidate
barely move the interest. Sequences are padded on the right; the GRU is causal, so the padded
tail never reaches a real position, and AUGRU's attention is 0 there, which freezes the state
at each row's last real behaviour (an all-PAD row keeps the zero state).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ecorec.ranking.modules.attention import masked_softmax


class InterestExtractor(nn.Module):
    """GRU over the behaviour sequence, plus the auxiliary next-behaviour loss.

    Args:
        dim: width of the behaviour embeddings (and of the hidden state, as the inner-product
            auxiliary loss requires).

    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, dim, batch_first=True)

    def forward(self, behaviours: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` behaviour embeddings -> hidden states ``(B, L, D)``."""
        states: torch.Tensor = self.gru(behaviours)[0]
        return states

    @staticmethod
    def auxiliary_loss(
        states: torch.Tensor,
        behaviours: torch.Tensor,
        negatives: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Mean BCE of ``h_t`` against ``e_{t+1}`` (positive) and a negative, real pairs only.

        Args:
            states: ``(B, L, D)`` extractor states.
            behaviours: ``(B, L, D)`` the behaviour embeddings.
            negatives: ``(B, L - 1, D)`` a sampled item for each next position.
            mask: ``(B, L)`` true at real positions.

        Returns:
            A scalar (0 when no row has two real behaviours).

        """
        h = states[:, :-1]
        pairs = (mask[:, :-1] & mask[:, 1:]).to(states.dtype)
        positive = F.logsigmoid((h * behaviours[:, 1:]).sum(-1))
        negative = F.logsigmoid(-(h * negatives).sum(-1))
        return -((positive + negative) * pairs).sum() / pairs.sum().clamp(min=1.0)


class AUGRU(nn.Module):
    """GRU with attentional update gate (AUGRU): ``u'_t = a_t u_t``.

    The state moves towards the candidate state by the scaled gate,
    ``h_t = h_{t-1} + u'_t (n_t - h_{t-1})``.

    The input projections of all steps are one matrix product before the loop, so each step
    costs one small ``(B, D) x (D, 3D)`` product and a few element-wise operations.

    Args:
        dim: width of inputs and state.

    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.input = nn.Linear(dim, 3 * dim)
        self.hidden = nn.Linear(dim, 3 * dim)

    def forward(self, inputs: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """``inputs (B, L, D)``, ``attention (B, L)`` (0 at padding) -> final state ``(B, D)``."""
        projected = self.input(inputs).unbind(1)
        gates = attention.unsqueeze(-1).unbind(1)
        h = inputs.new_zeros(inputs.shape[0], inputs.shape[2])
        for x, a in zip(projected, gates, strict=True):
            x_r, x_u, x_n = x.chunk(3, 1)
            h_r, h_u, h_n = self.hidden(h).chunk(3, 1)
            reset = torch.sigmoid(x_r + h_r)
            update = a * torch.sigmoid(x_u + h_u)
            candidate = torch.tanh(x_n + reset * h_n)
            h = h + update * (candidate - h)
        return h


class InterestEvolution(nn.Module):
    """Attention of each extracted interest to the candidate, driving an AUGRU.

    The attention is the paper's bilinear ``softmax_t(h_t W e_target)`` over real positions.

    Args:
        dim: width of the interests and of the candidate embedding.

    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bilinear = nn.Linear(dim, dim, bias=False)
        self.augru = AUGRU(dim)

    def attention(
        self, states: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``(B, L)`` attention of ``states`` to ``target``, 0 at padding."""
        scores = torch.bmm(states, self.bilinear(target).unsqueeze(-1)).squeeze(-1)
        return masked_softmax(scores, mask)

    def forward(
        self, states: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Final evolved interest ``(B, D)``."""
        final: torch.Tensor = self.augru(states, self.attention(states, target, mask))
        return final
