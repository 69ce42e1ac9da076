"""The loss and the loop: in-batch softmax with log-Q correction, Adam, local seeds.

Scoring lives in ``model.py``; this module only says how the model learns (TorchRec's habit of
keeping the loss out of the scoring model). Every positive of a batch is a negative for the
batch's other users; since popular items are sampled as negatives far more often than their
share of relevance warrants, each logit is corrected by the log of its item's sampling
probability, estimated from the item's frequency in the training stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the name PyTorch code always uses
from torch import Tensor

from ecorec.recall.two_tower.config import TwoTowerConfig
from ecorec.recall.two_tower.features import (
    InteractionStream,
    ItemFeatures,
    ItemInputs,
    UserInputs,
)
from ecorec.recall.two_tower.model import TwoTowerModel
from ecorec.recall.two_tower.vocab import OOV, PAD


@dataclass
class TrainingReport:
    """What a training run did: samples seen, wall time and mean loss per epoch."""

    samples: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def in_batch_softmax_loss(
    users: Tensor, items: Tensor, item_keys: Tensor, log_q: Tensor | None, temperature: float
) -> Tensor:
    """Softmax cross-entropy of each user against the batch's items; row ``i``'s positive is ``i``.

    Args:
        users: (B, d) unit vectors of the batch's users.
        items: (B, d) unit vectors of their positive items.
        item_keys: (B,) identity of each positive: a repeated item is not a negative for the
            other rows that have it as positive (their logits are masked out).
        log_q: (B,) log sampling probability of each item, subtracted from its column.
        temperature: divides the cosine scores.

    """
    logits = users @ items.T / temperature
    if log_q is not None:
        logits = logits - log_q.unsqueeze(0)
    duplicate = item_keys.unsqueeze(0) == item_keys.unsqueeze(1)
    duplicate.fill_diagonal_(False)
    logits = logits.masked_fill(duplicate, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(users)))


def fit(
    model: TwoTowerModel,
    stream: InteractionStream,
    items: ItemFeatures,
    config: TwoTowerConfig,
    rng: np.random.Generator,
) -> TrainingReport:
    """Train ``model`` in place on every interaction of ``stream``, ``config.epochs`` times."""
    counts = stream.item_counts(len(items.item_ids))
    log_q = torch.from_numpy(np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0)))
    log_q = log_q.to(torch.float32)
    # Adam on both kinds of parameters: its sparse variant for the id tables (only the rows a
    # batch touched move), the dense one for the MLPs and the small category/tag tables
    optimizers = [
        torch.optim.SparseAdam(model.sparse_parameters(), lr=config.learning_rate),
        torch.optim.Adam(model.dense_parameters(), lr=config.learning_rate),
    ]
    report = TrainingReport()
    began = time.perf_counter()
    model.train()
    for _ in range(config.epochs):
        order = rng.permutation(len(stream))
        total, batches = 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            positions = order[begin : begin + config.batch_size]
            if len(positions) < 2:
                continue  # a softmax over one item teaches nothing
            users, item_inputs, rows = _batch(
                stream, items, positions, model.sizes.categories, config, rng
            )
            keys = torch.from_numpy(rows)
            loss = in_batch_softmax_loss(
                model.encode_users(users),
                model.encode_items(item_inputs),
                keys,
                log_q[keys] if config.logq_correction else None,
                config.temperature,
            )
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            for optimizer in optimizers:
                optimizer.step()
            total += float(loss.detach())
            batches += 1
            report.samples += len(positions)
        report.losses.append(total / max(batches, 1))
    model.eval()
    report.seconds = time.perf_counter() - began
    return report


def _batch(
    stream: InteractionStream,
    items: ItemFeatures,
    positions: np.ndarray,
    n_categories: int,
    config: TwoTowerConfig,
    rng: np.random.Generator,
) -> tuple[UserInputs, ItemInputs, np.ndarray]:
    """Tower inputs of the samples at ``positions``, dropouts applied; plus the item rows."""
    users = stream.user_inputs(positions, config.history_length, n_categories, config.horizon, rng)
    rows = stream.item[positions]
    item_inputs = items.inputs(rows)
    if config.history_dropout > 0:
        hide = rng.random(len(positions)) < config.history_dropout
        users.history[hide] = PAD
        users.interests[hide] = 0.0
    if config.id_dropout > 0:
        users.user = _drop(users.user, config.id_dropout, rng)
        item_inputs.item = _drop(item_inputs.item, config.id_dropout, rng)
        item_inputs.creator = _drop(item_inputs.creator, config.id_dropout, rng)
    return users, item_inputs, rows


def _drop(rows: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Replace a ``rate`` share of id rows by the out-of-vocabulary row (padding stays)."""
    return np.where((rng.random(len(rows)) < rate) & (rows != PAD), OOV, rows)


def encode_all(model: TwoTowerModel, items: ItemFeatures, rows: np.ndarray) -> np.ndarray:
    """Float32 vectors of the items at ``rows``, in chunks so memory stays flat."""
    out = np.empty((len(rows), model.sizes.embedding_size), dtype=np.float32)
    with torch.inference_mode():
        for begin in range(0, len(rows), 65_536):
            chunk = rows[begin : begin + 65_536]
            out[begin : begin + len(chunk)] = model.encode_items(items.inputs(chunk)).numpy()
    return out
