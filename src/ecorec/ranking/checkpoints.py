"""Training checkpoints: one file per run folder, written atomically, read without pickle.

A checkpoint holds what :func:`~ecorec.ranking.training.fit` needs to continue a run exactly
where it stopped: the model and optimizer states after the last finished epoch, the best
weights so far, and the history. Only tensors and plain data go in, so it loads with
``torch.load(weights_only=True)`` (no arbitrary code runs on load). It is written to a temporary
file in the same folder and renamed over the old one, so a crash mid-write leaves the previous
checkpoint intact rather than half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

#: The file inside a checkpoint folder (the latest finished epoch; older ones are replaced).
CHECKPOINT_FILE = "last.pt"
#: Bumped when the layout of a checkpoint changes; older files are refused with a clear error.
FORMAT = 1


@dataclass
class Checkpoint:
    """The state of a training run after a finished epoch.

    Attributes:
        epoch: the last finished epoch (1-based).
        model: the model's ``state_dict`` after that epoch (not the best one).
        optimizer: the optimizer's ``state_dict`` after that epoch.
        best_epoch: the epoch whose validation AUC was highest so far.
        best_metric: that AUC.
        best_model: the model's ``state_dict`` after ``best_epoch``.
        history: one dict per finished epoch (see :class:`~ecorec.ranking.training.FitResult`).
        stopped_early: whether early stopping ended the run (a resume then trains no more).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> state = {"w": torch.zeros(2)}
        >>> path = save_checkpoint(folder, Checkpoint(1, state, {}, 1, 0.5, state, [], False))
        >>> load_checkpoint(folder).best_metric
        0.5

    """

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    best_epoch: int
    best_metric: float
    best_model: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    stopped_early: bool


def checkpoint_path(folder: Path) -> Path:
    """Where the checkpoint of the run in ``folder`` lives."""
    return Path(folder) / CHECKPOINT_FILE


def save_checkpoint(folder: Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` into ``folder`` atomically and return its path.

    Args:
        folder: the run's checkpoint folder (created if missing).
        checkpoint: the state to keep.

    Returns:
        The path of the checkpoint file.

    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(folder)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            # not dataclasses.asdict: it would deep-copy every tensor
            data = {f.name: getattr(checkpoint, f.name) for f in fields(checkpoint)}
            torch.save({"format": FORMAT, **data}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read the checkpoint of ``folder`` (tensors land on the CPU).

    Raises:
        FileNotFoundError: no checkpoint in ``folder``.
        ValueError: a file of another format version.

    """
    path = checkpoint_path(folder)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path}: checkpoint format {found!r}, expected {FORMAT}")
    raw.pop("format")
    return Checkpoint(**raw)
