"""Inference of ranking models: probabilities per objective, and their CTR metrics.

Shared by the trainer's validation after each epoch and by offline evaluation; the ranker
serving requests calls the model directly (one batched forward pass per request).
"""

from __future__ import annotations

import numpy as np
import torch

from ecorec.features.schema import TensorTable
from ecorec.metrics.ctr import ctr_metrics
from ecorec.ranking.models.base import RankingModel


def resolve_device(name: str) -> torch.device:
    """The torch device for ``--device``; a clear error when CUDA is asked for and absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device here; use cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: expected cpu or cuda")
    return device


def predict(
    model: RankingModel, table: TensorTable, batch_size: int = 8192, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Objective -> predicted probability of each row of ``table`` (the model moves to ``device``).

    Runs in eval mode under ``torch.inference_mode``; the model's train/eval mode is restored.
    """
    target = resolve_device(device)
    model.to(target)
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {o: [] for o in model.schema.objectives}
    try:
        with torch.inference_mode():
            for features, _ in table.batches(batch_size):
                outputs = model(move_batch(features, target))
                for objective in parts:
                    parts[objective].append(torch.sigmoid(outputs[objective]).float().cpu())
    finally:
        model.train(was_training)
    return {
        o: torch.cat(p).numpy() if p else np.empty(0, dtype=np.float32) for o, p in parts.items()
    }


def evaluate(
    model: RankingModel, table: TensorTable, batch_size: int = 8192, device: str = "cpu"
) -> dict[str, dict[str, float]]:
    """Objective -> :func:`~ecorec.metrics.ctr.ctr_metrics` on ``table``'s labelled objectives."""
    probabilities = predict(model, table, batch_size, device)
    return table_metrics(table, probabilities)


def move_batch(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """``tensors`` on ``device`` (the same dict on the CPU: no copy)."""
    if device.type == "cpu":
        return tensors
    return {k: v.to(device, non_blocking=True) for k, v in tensors.items()}


def table_metrics(
    table: TensorTable, probabilities: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Objective -> CTR metrics of ``probabilities`` against ``table``'s labels."""
    return {
        o: ctr_metrics(table.labels[o].numpy(), p, table.users)
        for o, p in probabilities.items()
        if o in table.labels
    }
