"""Offline metrics: top-K accuracy, beyond-accuracy, and the evaluation protocols that use them."""

from ecorec.metrics.accuracy import (
    hit_at_k,
    hit_matrix,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    topk_metrics,
)
from ecorec.metrics.beyond_accuracy import (
    exposure_gini,
    item_coverage,
    long_tail_mask,
    long_tail_share,
)

__all__ = [
    "exposure_gini",
    "hit_at_k",
    "hit_matrix",
    "item_coverage",
    "long_tail_mask",
    "long_tail_share",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "topk_metrics",
]
