"""The LightGCN network and its BPR loss (He et al. 2020), apart from the channel that serves it.

Kept apart so the model reads like the paper (propagate = mean of ``K`` normalised-adjacency
products of the ego embeddings) and the loss lives outside the scoring model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F  # noqa: N812 - the name PyTorch code always uses
from torch import Tensor, nn


def normalized_adjacency(user_items: sp.csr_matrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the bipartite graph, users first then items (float32 CSR).

    Args:
        user_items: users x items; any non-zero is an edge (weights are ignored).

    """
    edges = (user_items != 0).astype(np.float32).tocsr()
    adjacency = sp.bmat([[None, edges], [edges.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    # an isolated node (no edge) keeps a zero row instead of dividing by zero
    scale = np.zeros_like(degree)
    np.power(degree, -0.5, out=scale, where=degree > 0)
    normed: sp.csr_matrix = (sp.diags(scale) @ adjacency @ sp.diags(scale)).tocsr()
    normed = normed.astype(np.float32)
    normed.sort_indices()
    return normed


class _Propagate(torch.autograd.Function):
    """``graph @ x`` by scipy's CSR product, differentiable in ``x``.

    The normalised adjacency is symmetric, so the backward product is the same one. On CPU
    this measured about 10x faster than ``torch.sparse.mm`` (CSR or COO) on MovieLens-100K's
    graph, forward and backward: training time is almost all propagation.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, graph: sp.csr_matrix) -> Tensor:
        ctx.graph = graph
        return torch.from_numpy(np.asarray(graph @ x.detach().numpy()))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return torch.from_numpy(np.asarray(ctx.graph @ grad.contiguous().numpy())), None


class LightGCN(nn.Module):
    """Ego embeddings of every user and item, propagated ``layers`` times over the graph.

    Args:
        user_items: the training graph (users x items).
        embedding_size: width of every embedding.
        layers: propagation steps K.
        generator: seeds the initialisation (library code never seeds torch globally).

    """

    def __init__(
        self,
        user_items: sp.csr_matrix,
        embedding_size: int,
        layers: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.n_users, self.n_items = user_items.shape
        self.layers = layers
        self.graph = normalized_adjacency(user_items)
        self.item_degrees = np.asarray((user_items != 0).sum(axis=0), dtype=np.float64).ravel()
        ego = torch.empty(self.n_users + self.n_items, embedding_size)
        nn.init.xavier_uniform_(ego, generator=generator)
        self.ego = nn.Parameter(ego)

    def layer_embeddings(self) -> list[Tensor]:
        """Every node's embedding at layers 0..K (users first, then items)."""
        layers: list[Tensor] = [self.ego]
        for _ in range(self.layers):
            layers.append(_Propagate.apply(layers[-1], self.graph))  # type: ignore[no-untyped-call]
        return layers

    def propagate(self) -> tuple[Tensor, Tensor]:
        """Final (users, items) embeddings: the mean of layers 0..K."""
        final = torch.stack(self.layer_embeddings()).mean(dim=0)
        return final[: self.n_users], final[self.n_users :]

    def fold_in_vectors(self) -> np.ndarray:
        """Per-item vectors ``f_i`` that give a user's embedding from their items alone.

        LightGCN's layer ``k+1`` of user ``u`` is ``sum_i e_i^(k) / sqrt(|N_u| |N_i|)``, so
        ``sum_{i in N_u} f_i / sqrt(|N_u|)`` with ``f_i = sum_{k<K} e_i^(k) / sqrt(|N_i|) / (K+1)``
        is exactly the user's final embedding minus their own ego term ``e_u^(0) / (K+1)``:
        what a user the model never trained on (or one with new clicks) can be given.
        """
        with torch.no_grad():
            layers = self.layer_embeddings()[: self.layers]
            summed = torch.stack(layers).sum(dim=0)[self.n_users :].numpy().astype(np.float64)
        scale = 1.0 / (np.sqrt(np.maximum(self.item_degrees, 1.0)) * (self.layers + 1))
        folded: np.ndarray = (summed * scale[:, None]).astype(np.float32)
        return folded


def bpr_loss(model: LightGCN, users: Tensor, pos: Tensor, neg: Tensor, reg: float) -> Tensor:
    """BPR loss of (user, observed item, sampled item) triples plus L2 on their ego embeddings.

    The L2 term is ``reg * (|e_u|^2 + |e_i|^2 + |e_j|^2) / 2`` averaged over the batch, on the
    layer-0 embeddings as in the paper (the propagated ones have no parameters of their own).
    """
    final_users, final_items = model.propagate()
    u, i, j = final_users[users], final_items[pos], final_items[neg]
    ranking = -F.logsigmoid((u * i).sum(dim=1) - (u * j).sum(dim=1)).mean()
    ego = model.ego
    n_users = model.n_users
    squares = (
        ego[users].pow(2).sum() + ego[n_users + pos].pow(2).sum() + ego[n_users + neg].pow(2).sum()
    )
    return ranking + reg * squares / (2 * len(users))


def sample_negatives(
    users: np.ndarray,
    n_items: int,
    observed: np.ndarray,
    rng: np.random.Generator,
    tries: int = 5,
) -> np.ndarray:
    """One uniformly drawn item per user that the user has not interacted with.

    Args:
        users: user index of each row.
        n_items: items to draw from.
        observed: sorted ``user * n_items + item`` keys of the observed pairs.
        rng: the training's generator.
        tries: redraws for rows that hit an observed pair (a user who has seen nearly every
            item may keep a positive after them; BPR tolerates such rare noise).

    """
    neg = rng.integers(n_items, size=len(users))
    for _ in range(tries):
        keys = users * n_items + neg
        at = np.minimum(np.searchsorted(observed, keys), len(observed) - 1)
        clash = observed[at] == keys
        if not clash.any():
            break
        neg[clash] = rng.integers(n_items, size=int(clash.sum()))
    return neg
