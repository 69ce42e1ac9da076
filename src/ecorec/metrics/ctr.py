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
    """Per-user AUC weighted by the user's rows, users with both labels only (NaN if none).

    One pass for all users (Mann-Whitney U from tie-averaged ranks within each user), because
    a validation set has thousands of users and the trainer asks every epoch.
    """
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    _, codes = np.unique(np.asarray(users), return_inverse=True)
    order = np.lexsort((s, codes))
    u, s, y = codes[order], s[order], y[order]
    new_user = np.r_[True, u[1:] != u[:-1]]
    user = np.cumsum(new_user) - 1
    position = np.arange(len(u)) - np.flatnonzero(new_user)[user] + 1
    tie = np.cumsum(np.r_[True, new_user[1:] | (s[1:] != s[:-1])]) - 1
    rank = (np.bincount(tie, weights=position) / np.bincount(tie))[tie]
    rows = np.bincount(user).astype(np.float64)
    positives = np.bincount(user, weights=y)
    negatives = rows - positives
    both = (positives > 0) & (negatives > 0)
    if not both.any():
        return float("nan")
    rank_sum = np.bincount(user, weights=rank * y)
    p, n = positives[both], negatives[both]
    per_user = (rank_sum[both] - p * (p + 1) / 2) / (p * n)
    return float((per_user * rows[both]).sum() / rows[both].sum())


def ctr_metrics(
    labels: np.ndarray, probabilities: np.ndarray, users: np.ndarray
) -> dict[str, float]:
    """``{"auc", "logloss", "gauc"}`` over the rows with a known (non-NaN) label.

    A soft label in [0, 1] (``watch_time``: the completion ratio) keeps its cross-entropy as
    ``logloss``, is ranked as ``label >= 0.5`` ("watched at least half") for ``auc`` and
    ``gauc``, and adds ``mse``, since truncating it to 0/1 would make the AUC read "watched to
    the very end" only.
    """
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    soft, p = labels[known], np.asarray(probabilities, dtype=np.float64)[known]
    u = np.asarray(users)[known] if len(users) else np.zeros(len(soft), dtype=np.int64)
    if not len(soft):
        return {"auc": float("nan"), "logloss": float("nan"), "gauc": float("nan")}
    if np.isin(soft, (0.0, 1.0)).all():
        y = soft.astype(np.int64)
        return {
            "auc": round(auc(y, p), 6),
            "logloss": round(logloss(y, p), 6),
            "gauc": round(gauc(y, p, u), 6),
        }
    y = (soft >= 0.5).astype(np.int64)
    clipped = np.clip(p, EPS, 1 - EPS)
    cross_entropy = -(soft * np.log(clipped) + (1 - soft) * np.log1p(-clipped)).mean()
    return {
        "auc": round(auc(y, p), 6),
        "logloss": round(float(cross_entropy), 6),
        "gauc": round(gauc(y, p, u), 6),
        "mse": round(float(((p - soft) ** 2).mean()), 6),
    }
