"""AUC, log loss and GAUC against hand-computed answers and scikit-learn per user."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ecorec.metrics.ctr import auc, ctr_metrics, gauc, logloss


def test_auc_known_answer_and_one_class() -> None:
    assert auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.3])) == 0.75
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_logloss_clips_certain_mistakes() -> None:
    assert logloss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(math.log(2))
    assert math.isfinite(logloss(np.array([1]), np.array([0.0])))


def test_gauc_matches_a_per_user_loop_with_ties() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 3000).astype(str)
    labels = rng.integers(0, 2, 3000)
    scores = rng.integers(0, 5, 3000) / 4.0  # many ties within a user
    total = weight = 0.0
    for user in np.unique(users):
        rows = users == user
        if 0 < labels[rows].sum() < rows.sum():
            total += roc_auc_score(labels[rows], scores[rows]) * rows.sum()
            weight += rows.sum()
    assert gauc(labels, scores, users) == pytest.approx(total / weight, abs=1e-12)


def test_gauc_skips_one_class_users_and_weights_by_rows() -> None:
    users = np.array(["a", "a", "b", "b", "b", "b", "c"])
    labels = np.array([0, 1, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.9, 0.9, 0.1, 0.8, 0.2, 0.5])  # a perfect, b all wrong, c one class
    assert gauc(labels, scores, users) == pytest.approx((1.0 * 2 + 0.0 * 4) / 6)
    assert math.isnan(gauc(np.array([1, 1]), np.array([0.1, 0.2]), np.array(["a", "b"])))


def test_ctr_metrics_ignores_unknown_labels() -> None:
    labels = np.array([0, 1, np.nan, 0, 1])
    probabilities = np.array([0.1, 0.9, 0.99, 0.4, 0.3])
    users = np.array(list("aazbb"))
    out = ctr_metrics(labels, probabilities, users)
    assert out["auc"] == 0.75
    assert out["gauc"] == 0.5
    assert all(
        math.isnan(v) for v in ctr_metrics(np.array([np.nan]), np.ones(1), users[:1]).values()
    )


def test_soft_labels_rank_at_one_half_and_keep_their_cross_entropy():
    labels = np.array([0.0, 0.2, 0.6, 0.9])
    p = np.array([0.1, 0.3, 0.5, 0.8])
    m = ctr_metrics(labels, p, np.array(["u"] * 4))
    assert m["auc"] == 1.0  # 0.6 and 0.9 ("watched at least half") score above 0 and 0.2
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
    assert m["logloss"] == pytest.approx(expected, abs=1e-6)
    assert m["mse"] == pytest.approx(((p - labels) ** 2).mean(), abs=1e-6)
