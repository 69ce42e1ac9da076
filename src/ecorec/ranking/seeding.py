"""Seeds of a training run: per epoch and per stream, without touching the global generators.

:func:`~ecorec.ranking.training.fit` shuffles with a ``torch.Generator`` and draws dropout
from a forked generator, both seeded from ``(seed, epoch)``, so a run resumed from a
checkpoint ends on the very weights an uninterrupted run reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def epoch_rng(seed: int, epoch: int, device: torch.device) -> Iterator[None]:
    """Seed dropout for ``epoch`` inside a forked RNG (the caller's RNG state comes back)."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        drop_seed = derive_seed(seed, epoch, 1)
        torch.default_generator.manual_seed(drop_seed)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(drop_seed)
        yield


def derive_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed per (run seed, epoch, stream), unrelated across all three.

    Not ``seed + epoch``: that would make run 1's second epoch shuffle like run 2's first.
    """
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])
