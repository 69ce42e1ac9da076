"""Metrics of predicted probabilities: AUC, log loss, and GAUC (per-user AUC).

GAUC (Zhou et al., DIN 2018) averages each user's AUC weighted by the user's rows, over users
whose rows hold both labels; it asks the question ranking actually answers (order one user's
candidates), which a global AUC blurs with between-user differences in base rate.
Rows whose label is NaN (unknown for that objective) are left out of every metric.

Example:
    >>> import numpy as np
    >>> labels, users = np.array([0, 1, 0, 1]), np.array(list("aabb"))
    >>> ctr_metrics(labels, np.array([0.1, 0.9, 0.4, 0.3]), users)  # b's pair is misordered
    {'auc': 0.75, 'logloss': 0.48138, 'gauc': 0.5}

"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

#: Probabilities are clipped to [EPS, 1 - EPS] for log loss (a 0 or 1 would be infinite).
EPS = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC; NaN when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def logloss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped to [EPS, 1 - EPS])."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPS, 1 - EPS)
    return float(log_loss(np.asarray(labels), p, labels=[0, 1]))


def gauc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> float:
    """Per-user AUC weighted by the user's rows, users with both labels only (NaN if none)."""
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    order = np.argsort(users, kind="stable")
    users_sorted = np.asarray(users)[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    total, weight = 0.0, 0
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = order[start:end]
        y = labels[rows]
        positives = int(y.sum())
        if positives == 0 or positives == len(y):
            continue
        total += roc_auc_score(y, scores[rows]) * len(y)
        weight += len(y)
    return total / weight if weight else float("nan")


def ctr_metrics(
    labels: np.ndarray, probabilities: np.ndarray, users: np.ndarray
) -> dict[str, float]:
    """``{"auc", "logloss", "gauc"}`` over the rows with a known (non-NaN) label."""
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    y, p = labels[known].astype(np.int64), np.asarray(probabilities)[known]
    u = np.asarray(users)[known] if len(users) else np.zeros(len(y), dtype=np.int64)
    if not len(y):
        return {"auc": float("nan"), "logloss": float("nan"), "gauc": float("nan")}
    return {
        "auc": round(auc(y, p), 6),
        "logloss": round(logloss(y, p), 6),
        "gauc": round(gauc(y, p, u), 6),
    }
