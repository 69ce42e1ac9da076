"""How ranking models learn: the multi-objective loss and the training loop.

The models only score (``forward`` returns logits); the loss lives here, TorchRec's split of
``DLRM`` and ``DLRMTrain``. The loss is the issue's ``a·L_user + b·L_eco + c·L_biz``: each
objective's binary cross-entropy over the rows whose label is known, times its own weight,
summed into its group (:data:`OBJECTIVE_GROUPS`), and the groups weighted.

:func:`fit` is seeded without touching the global generators: batches are shuffled by a
``torch.Generator`` and dropout draws from a forked generator, both seeded from
``(seed, epoch)``, so a run resumed from a checkpoint ends on the very weights an uninterrupted
run reaches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the name PyTorch code always uses
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ecorec.features.schema import TensorTable
from ecorec.ranking.checkpoints import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from ecorec.ranking.fairness import FairnessConfig, FairnessRegulariser
from ecorec.ranking.models.base import RankingModel
from ecorec.ranking.prediction import (
    evaluate,
    move_batch,
    predict,
    resolve_device,
    table_metrics,
)
from ecorec.ranking.seeding import derive_seed, epoch_rng

#: Objective -> loss group; objectives not listed count as ``user``.
OBJECTIVE_GROUPS = {
    "click": "user",
    "like": "user",
    "finish": "user",
    "watch_time": "user",
    "share": "user",
    "comment": "user",
    "negative": "eco",
    "convert": "biz",
}
GROUPS = ("user", "eco", "biz")

__all__ = [
    "OBJECTIVE_GROUPS",
    "FitResult",
    "TrainConfig",
    "TrainingDivergedError",
    "evaluate",
    "fit",
    "objective_loss",
    "predict",
    "resolve_device",
]


class TrainConfig(BaseModel):
    """The training schedule and the weights of the loss.

    Attributes:
        epochs: most passes over the training rows.
        batch_size: rows per Adam step.
        learning_rate: Adam's step size.
        weight_decay: Adam's L2 penalty.
        patience: epochs without a better validation AUC (of ``monitor``) before stopping.
        monitor: the objective whose validation AUC picks the best epoch (``None``: the
            model's primary one). ESMM watches ``convert``: its click tower peaks an epoch or
            more before the rare conversions are learned.
        seed: shuffling and dropout seed (derived per epoch; the global RNG is left alone).
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        objective_weights: weight of each objective's loss inside its group (default 1.0).
        group_weights: ``a``, ``b``, ``c`` of ``a·L_user + b·L_eco + c·L_biz`` (default 1.0).
        aux_weight: weight of the model's auxiliary loss (DIEN's), when it has one.
        max_grad_norm: clip the gradient's global norm to this (``None``: no clipping).
        fairness: a group-fairness regulariser added to the loss as ``weight * gap``
            (:mod:`ecorec.ranking.fairness`; ``None``: none).

    Example:
        >>> TrainConfig(epochs=5, group_weights={"user": 1.0, "eco": 0.5}).group_weights["eco"]
        0.5

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=1024, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    patience: int = Field(default=2, ge=1)
    seed: int = Field(default=2020, ge=0)
    device: str = "cpu"
    objective_weights: dict[str, float] = Field(default_factory=dict)
    group_weights: dict[str, float] = Field(
        default_factory=lambda: {"user": 1.0, "eco": 1.0, "biz": 1.0}
    )
    aux_weight: float = Field(default=1.0, ge=0.0)
    max_grad_norm: float | None = Field(default=None, gt=0.0)
    fairness: FairnessConfig | None = None
    monitor: str | None = None

    @field_validator("objective_weights", "group_weights")
    @classmethod
    def _non_negative(cls, weights: dict[str, float]) -> dict[str, float]:
        negative = sorted(k for k, w in weights.items() if not w >= 0.0)
        if negative:
            raise ValueError(f"loss weights must be >= 0: {negative}")
        return weights

    @field_validator("group_weights")
    @classmethod
    def _known_groups(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown loss groups {unknown}; known: {', '.join(GROUPS)}")
        return weights

    def weight_of(self, objective: str) -> float:
        """The factor of ``objective``'s loss: its own weight times its group's."""
        group = OBJECTIVE_GROUPS.get(objective, "user")
        return self.objective_weights.get(objective, 1.0) * self.group_weights.get(group, 1.0)


class TrainingDivergedError(RuntimeError):
    """The loss (or the validation predictions) became NaN or infinite.

    Attributes:
        epoch: the epoch it happened in (1-based).
        batch: the batch of that epoch (1-based; ``None``: in validation after the epoch).
        checkpoint: the last good checkpoint of this run (``None``: none was saved).

    """

    def __init__(
        self, epoch: int, batch: int | None, checkpoint: Path | None, learning_rate: float
    ) -> None:
        self.epoch, self.batch, self.checkpoint = epoch, batch, checkpoint
        where = f"batch {batch}" if batch is not None else "validation after its last batch"
        if checkpoint is None:
            last = "no checkpoint was saved (pass a checkpoint folder to keep one per epoch)"
        else:
            last = f"last good checkpoint: {checkpoint} (resume from it)"
        super().__init__(
            f"training diverged: non-finite loss in epoch {epoch}, {where}; {last}; "
            f"try a lower learning rate than {learning_rate:g}"
        )


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        best_epoch: the epoch whose weights the model holds at the end (1-based).
        best_valid: objective -> validation metrics (``auc``, ``logloss``, ``gauc``) then.
        history: one dict per epoch run (resumed epochs included): ``epoch``, ``train_loss``
            (row-weighted mean of the batches' losses), ``valid`` (as ``best_valid``),
            ``seconds`` (training time of the epoch, validation excluded).
        samples_per_s: training rows per second of training time, over ``history``.
        stopped_early: whether early stopping ended the run before ``epochs``.
        checkpoint_dir: where the checkpoint was written (``None``: not kept).

    """

    best_epoch: int
    best_valid: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    samples_per_s: float
    stopped_early: bool
    checkpoint_dir: Path | None


def objective_loss(
    outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], config: TrainConfig
) -> torch.Tensor:
    """The weighted sum of each objective's mean BCE over its known (non-NaN) labels.

    Args:
        outputs: objective -> logits ``(B,)`` from the model.
        labels: objective -> labels ``(B,)`` in [0, 1], NaN where unknown.
        config: the weights (:meth:`TrainConfig.weight_of`).

    Returns:
        A scalar; an objective with no known label in the batch adds 0 (never NaN).

    """
    missing = sorted(set(outputs) - set(labels))
    if missing:
        raise ValueError(f"the model predicts {missing} but the batch has no such labels")
    total: torch.Tensor | None = None
    for objective, logits in outputs.items():
        y = labels[objective]
        known = ~torch.isnan(y)
        # masking by multiplication, not boolean indexing: no host sync, and the empty case
        # stays part of the graph (0 / 1 = 0) instead of a mean of nothing (NaN)
        bce = F.binary_cross_entropy_with_logits(
            logits, torch.where(known, y, 0.0).to(logits.dtype), reduction="none"
        )
        mean = (bce * known).sum() / known.sum().clamp(min=1)
        term = config.weight_of(objective) * mean
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the model returned no objective")
    return total


def fit(
    model: RankingModel,
    train: TensorTable,
    valid: TensorTable,
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train ``model`` in place with Adam, early-stopped on one objective's valid AUC.

    The model ends holding the weights of its best validation epoch. With ``checkpoint_dir``
    each finished epoch is saved there (:mod:`ecorec.ranking.checkpoints`); ``resume=True``
    continues the run saved there and ends on the same weights as a run never interrupted
    (the learning rate and weight decay are taken from ``config``, so a diverged run can be
    resumed with a lower one).

    Args:
        model: a freshly built model (or one of the same shape when resuming).
        train: the training rows.
        valid: the validation rows; its primary objective needs both classes.
        config: schedule, seed, device and loss weights.
        checkpoint_dir: folder of the run's checkpoint (``None``: keep none).
        resume: continue from the checkpoint in ``checkpoint_dir`` (it must exist).
        progress: called after each batch with ``(done, total)`` batches of the whole run
            (``total`` assumes every epoch runs; early stopping ends before it).

    Returns:
        The :class:`FitResult`.

    Raises:
        TrainingDivergedError: a non-finite loss; the message names the epoch, the batch and
            the last good checkpoint.
        ValueError: empty tables, a one-class validation set, a missing CUDA device.

    """
    device = resolve_device(config.device)
    primary = config.monitor or model.schema.objectives[0]
    if primary not in model.schema.objectives:
        raise ValueError(
            f"monitor {primary!r} is not an objective of the model "
            f"({', '.join(model.schema.objectives)})"
        )
    _check_tables(train, valid, primary)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint folder of the run to resume")
    model.to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    state = Checkpoint(0, {}, {}, 0, -math.inf, {}, [], False)
    last_good: Path | None = None
    if resume:
        assert checkpoint_dir is not None
        state = _resume(model, optimizer, config, checkpoint_dir)
        last_good = checkpoint_path(checkpoint_dir)
    per_epoch = math.ceil(len(train) / config.batch_size)
    while not state.stopped_early and state.epoch < config.epochs:
        epoch = state.epoch + 1
        began = time.perf_counter()
        with epoch_rng(config.seed, epoch, device):
            train_loss = _train_epoch(
                model, optimizer, train, config, epoch, device, last_good, progress, per_epoch
            )
        seconds = time.perf_counter() - began
        probabilities = predict(model, valid, device=str(device))
        if not all(np.isfinite(p).all() for p in probabilities.values()):
            raise TrainingDivergedError(epoch, None, last_good, config.learning_rate)
        metrics = table_metrics(valid, probabilities)
        state.history.append(
            {"epoch": epoch, "train_loss": train_loss, "valid": metrics, "seconds": seconds}
        )
        state.epoch = epoch
        if metrics[primary]["auc"] > state.best_metric:
            state.best_epoch, state.best_metric = epoch, metrics[primary]["auc"]
            state.best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - state.best_epoch >= config.patience:
            state.stopped_early = True
        if checkpoint_dir is not None:
            state.model, state.optimizer = model.state_dict(), optimizer.state_dict()
            last_good = save_checkpoint(checkpoint_dir, state)
    model.load_state_dict(state.best_model)
    trained = sum(h["seconds"] for h in state.history)
    return FitResult(
        best_epoch=state.best_epoch,
        best_valid=state.history[state.best_epoch - 1]["valid"],
        history=state.history,
        samples_per_s=len(train) * len(state.history) / trained if trained > 0 else 0.0,
        stopped_early=state.stopped_early,
        checkpoint_dir=checkpoint_dir,
    )


def _train_epoch(
    model: RankingModel,
    optimizer: torch.optim.Optimizer,
    train: TensorTable,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
    last_good: Path | None,
    progress: Callable[[int, int], None] | None,
    per_epoch: int,
) -> float:
    """One pass over ``train``; returns the row-weighted mean loss (fairness term included)."""
    # bound before the first step: a bad attribute fails before any weight moves
    fair = FairnessRegulariser.bind(config.fairness, model.schema) if config.fairness else None
    model.train()
    shuffle = torch.Generator().manual_seed(derive_seed(config.seed, epoch, 0))
    total, rows = 0.0, 0
    for batch, (features, labels) in enumerate(
        train.batches(config.batch_size, shuffle=True, generator=shuffle), start=1
    ):
        features, labels = move_batch(features, device), move_batch(labels, device)
        outputs = model(features)
        loss = objective_loss(outputs, labels, config)
        if fair is not None and fair.weight > 0:  # weight 0: report only, no term in the graph
            loss = loss + fair(outputs, features, labels)
        aux = model.auxiliary_loss()
        if aux is not None:
            loss = loss + config.aux_weight * aux
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDivergedError(epoch, batch, last_good, config.learning_rate)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        n = len(next(iter(labels.values())))
        total += value * n
        rows += n
        if progress is not None:
            progress((epoch - 1) * per_epoch + batch, config.epochs * per_epoch)
    return total / max(rows, 1)


def _resume(
    model: RankingModel, optimizer: torch.optim.Optimizer, config: TrainConfig, folder: Path
) -> Checkpoint:
    """Load the run saved in ``folder`` into ``model`` and ``optimizer``."""
    state = load_checkpoint(folder)
    model.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    for group in optimizer.param_groups:
        group["lr"], group["weight_decay"] = config.learning_rate, config.weight_decay
    return state


def _check_tables(train: TensorTable, valid: TensorTable, primary: str) -> None:
    if not len(train) or not len(valid):
        raise ValueError(f"empty table: {len(train)} training and {len(valid)} validation rows")
    for name, table in (("training", train), ("validation", valid)):
        if primary not in table.labels:
            raise ValueError(f"the {name} rows have no {primary!r} labels")
    y = valid.labels[primary]
    known = y[~torch.isnan(y)]
    if known.numel() == 0 or bool((known == known[0]).all()):
        raise ValueError(
            f"validation rows hold one class of {primary!r} only: early stopping needs its AUC"
        )
