"""Target attention over a behaviour sequence: DIN's local activation unit (Zhou et al. 2018).

Each history item ``k`` is weighted by an MLP over ``[q, k, q - k, q * k]`` with the candidate
``q``, and the weighted sum is the user's interest *for this candidate*. As in the paper, the
weights are not normalised by a softmax (their sum carries how strongly the history supports
the candidate); padded positions get weight 0.

The first layer is linear in the concatenation, so it splits into a ``q`` part computed once
per row and a ``[k, q * k]`` part per position (``W [q; k; q-k; q*k] = (W_q + W_d) q +
(W_k - W_d) k + W_p (q*k)``): the same function with half the per-position work, which is
where DIN spends its time. Only the real positions are scored: they are packed into one list
of (row, position) pairs, so padding costs nothing (a history padded to 50 is often far
shorter) and cannot leak into the interest whatever its vectors hold. Packing and ReLU (see
:class:`LocalActivationUnit`) together took a DIN training step on 1024 histories of 50, half
of them real, from 112 ms to 47 ms on one core.

Serving scores one user's request against hundreds of candidates, every row with the same
history. Keys then come once, ``(1, L, D)``, and :meth:`LocalActivationUnit.against` folds
each key into the first layer's weight (``q * k`` through ``W_p`` is ``q`` through
``diag(k) W_p``), so the whole first layer for all (candidate, key) pairs is one matrix
product ``(B, D) x (D, L * H)`` instead of gathering ``B * L`` packed pairs: the same function
(up to float rounding); a DIN request of 500 candidates and 50 keys went from 10.5 to 4.0 ms
(p50, one core; BENCHMARKS.md, "Ranking: serving latency"). Training batches, whose rows have
their own histories, keep the packed path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

#: Queries scored together by :meth:`LocalActivationUnit.against` at inference.
_BLOCK = 64


class LocalActivationUnit(nn.Module):
    """The score of each (query, key) pair: an MLP over ``[q, k, q - k, q * k]``.

    Args:
        dim: width of queries and keys.
        hidden: widths of the scoring MLP (the paper's 80, 40), each followed by ReLU. The
            paper's PReLU (or Dice) took 40% of a DIN training step on CPU, the PReLU
            kernel's backward being slow; its effect on accuracy has not been compared.

    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (80, 40)) -> None:
        super().__init__()
        self.dim = dim
        self.first = nn.Linear(4 * dim, hidden[0])
        layers: list[nn.Module] = [nn.ReLU()]
        for a, b in zip(hidden, hidden[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1], 1))
        self.rest = nn.Sequential(*layers)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Scores ``(N,)`` of ``keys (N, D)`` against their rows' queries ``query[rows]``.

        Args:
            query: ``(B, D)`` one query per row.
            keys: ``(N, D)`` the keys to score, packed.
            rows: ``(N,)`` the row of each key.

        """
        w_q, w_k, w_d, w_p = torch.split(self.first.weight, self.dim, 1)
        per_row = F.linear(query, w_q + w_d, self.first.bias)
        per_key = F.linear(
            torch.cat([keys, query[rows] * keys], -1), torch.cat([w_k - w_d, w_p], 1)
        )
        scores: torch.Tensor = self.rest(per_key + per_row[rows])
        return scores.squeeze(-1)

    def against(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, L)`` of every query ``(B, D)`` against the same keys ``(L, D)``.

        The first layer of all ``B * L`` pairs is one matrix product: the per-row part
        ``W_q + W_d``, the per-key part ``(W_k - W_d) k`` and the product part
        ``W_p (q * k) = (W_p diag(k)) q`` sum into one weight per key (``(D, L * H)`` side by
        side) and one bias per key, so nothing is gathered or repeated per pair.
        """
        w_q, w_k, w_d, w_p = torch.split(self.first.weight, self.dim, 1)
        n_keys, width = keys.shape[0], self.first.out_features
        bias = F.linear(keys, w_k - w_d, self.first.bias).reshape(1, -1)  # (1, L * H)
        # (D, L, H): column block l is (W_q + W_d + W_p diag(k_l)) transposed
        weight = (w_q + w_d).t().unsqueeze(1) + keys.t().unsqueeze(2) * w_p.t().unsqueeze(1)
        weight = weight.reshape(self.dim, -1)
        if torch.is_grad_enabled():
            hidden = torch.addmm(bias, query, weight).view(-1, width)
            scores: torch.Tensor = self.rest(hidden)
            return scores.view(len(query), n_keys)
        # Inference: blocks of rows keep the (rows * L, H) activations in cache; ReLU in place
        # saves a fresh multi-megabyte buffer (and its page faults) per layer; the bias rides
        # in the product as a constant-1 input column (addmm's broadcast copy of it was 40% of
        # the layer). 500 candidates x 50 keys, one core: 8.0 ms -> 3.0 ms.
        ones = query.new_ones(len(query), 1)
        query, weight = torch.cat([query, ones], 1), torch.cat([weight, bias], 0)
        parts = []
        for block in torch.split(query, _BLOCK):
            hidden = torch.mm(block, weight).view(-1, width)
            for layer in self.rest:
                if isinstance(layer, nn.ReLU):
                    hidden = hidden.relu_()
                elif isinstance(layer, nn.Linear) and layer.bias is not None:
                    hidden = torch.mm(hidden, layer.weight.t()).add_(layer.bias)
                else:
                    hidden = layer(hidden)
            parts.append(hidden.view(len(block), n_keys))
        return torch.cat(parts) if len(parts) > 1 else parts[0]


class TargetAttention(nn.Module):
    """DIN's attention pooling: ``sum_j a(q, k_j) k_j`` over the real positions.

    Args:
        dim: width of queries and keys.
        hidden: widths of the local activation unit's MLP.

    Example:
        >>> pool = TargetAttention(4)
        >>> pool(torch.ones(2, 4), torch.ones(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]]).bool()
        ...      ).shape
        torch.Size([2, 4])

    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (80, 40)) -> None:
        super().__init__()
        self.unit = LocalActivationUnit(dim, hidden)

    def weights(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(B, L)``, exactly 0 where ``mask`` is false.

        ``keys (1, L, D)`` with ``mask (1, L)`` is one history shared by every row.
        """
        if _shared(query, keys):
            real = mask[0]
            out = query.new_zeros(query.shape[0], mask.shape[1])
            out[:, real] = self.unit.against(query, keys[0, real])
            return out
        rows, positions = mask.nonzero(as_tuple=True)
        scores: torch.Tensor = self.unit(query, keys[rows, positions], rows)
        return keys.new_zeros(mask.shape).index_put((rows, positions), scores)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled interest ``(B, D)``: ``query (B, D)``, ``keys (B, L, D)``, ``mask (B, L)``.

        ``keys (1, L, D)`` and ``mask (1, L)`` are one history shared by every row (a serving
        request): scored by :meth:`LocalActivationUnit.against`, the same function.
        """
        if _shared(query, keys):
            real = keys[0, mask[0]]
            pooled: torch.Tensor = self.unit.against(query, real) @ real
            return pooled
        rows, positions = mask.nonzero(as_tuple=True)
        real = keys[rows, positions]
        scores = self.unit(query, real, rows)
        return query.new_zeros(query.shape).index_add(0, rows, scores.unsqueeze(1) * real)


def _shared(query: torch.Tensor, keys: torch.Tensor) -> bool:
    """Whether ``keys`` is one history for every query (batch 1 against several queries)."""
    return keys.shape[0] == 1 and query.shape[0] != 1


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to ``mask``; an all-masked row gives all zeros.

    Filling with the dtype's minimum (not ``-inf``) keeps an empty row finite: its softmax is
    uniform, and the mask then zeroes it, instead of ``0 / 0``.
    """
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, -1) * mask.to(scores.dtype)
