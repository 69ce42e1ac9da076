"""Two-tower retrieval (PyTorch, in-batch negatives with log-Q correction) served through ANN."""

from ecorec.recall.two_tower.channel import TwoTowerRecall
from ecorec.recall.two_tower.config import TwoTowerConfig

__all__ = ["TwoTowerConfig", "TwoTowerRecall"]
