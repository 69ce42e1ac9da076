"""Top-K accuracy metrics: hand-computed answers and RecBole's loop definitions."""

import math

import numpy as np
import pytest

from ecorec.metrics.accuracy import (
    hit_at_k,
    hit_matrix,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    topk_metrics,
)

# user a: relevant at ranks 2 and 4 out of 3 relevant; b: rank 1 of 1; c: 5 of 10 relevant
HITS = np.array(
    [
        [False, True, False, True, False],
        [True, False, False, False, False],
        [True, True, True, True, True],
    ]
)
N_REL = np.array([3, 1, 10])
D = [1 / math.log2(r + 1) for r in range(1, 6)]  # 1, 0.6309, 0.5, 0.4307, 0.3869


def test_recall_by_hand():
    assert recall_at_k(HITS, N_REL, 3) == pytest.approx([1 / 3, 1.0, 0.3])
    assert recall_at_k(HITS, N_REL, 5) == pytest.approx([2 / 3, 1.0, 0.5])


def test_ndcg_by_hand_ideal_over_min_relevant_and_k():
    a3 = D[1] / (D[0] + D[1] + D[2])
    a5 = (D[1] + D[3]) / (D[0] + D[1] + D[2])  # ideal list holds min(3, 5) = 3 items
    assert ndcg_at_k(HITS, N_REL, 3) == pytest.approx([a3, 1.0, 1.0])
    assert ndcg_at_k(HITS, N_REL, 5) == pytest.approx([a5, 1.0, 1.0])
    assert ndcg_at_k(HITS, N_REL, 3)[0] == pytest.approx(0.296082, abs=1e-6)


def test_mrr_and_hit_by_hand():
    assert mrr_at_k(HITS, 1) == pytest.approx([0.0, 1.0, 1.0])
    assert mrr_at_k(HITS, 5) == pytest.approx([0.5, 1.0, 1.0])
    assert hit_at_k(HITS, 1) == pytest.approx([0.0, 1.0, 1.0])
    assert hit_at_k(HITS, 2) == pytest.approx([1.0, 1.0, 1.0])


def test_short_lists_count_as_misses_not_as_a_shorter_ideal():
    short = np.array([[True, False]])  # the list ended after 2 slots (padding is False)
    assert ndcg_at_k(short, np.array([4]), 10)[0] == pytest.approx(1 / sum(D[:4]))
    assert recall_at_k(short, np.array([4]), 10)[0] == pytest.approx(0.25)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at_k(HITS, np.array([3, 0, 1]), 3)
    with pytest.raises(ValueError, match="k must be positive"):
        hit_at_k(HITS, 0)
    with pytest.raises(ValueError, match="unknown metric"):
        topk_metrics(HITS, N_REL, [("precision", 3)])


def _recbole_loops(hits, n_rel):
    """RecBole's metric_info definitions, written as its per-row loops (the reference)."""
    n, length = hits.shape
    ranks = np.arange(1, length + 1)
    recall = np.cumsum(hits, axis=1) / n_rel.reshape(-1, 1)
    hit = (np.cumsum(hits, axis=1) > 0).astype(int)
    mrr = np.zeros((n, length))
    for row, idx in enumerate(hits.argmax(axis=1)):
        mrr[row, idx:] = 1 / (idx + 1) if hits[row, idx] else 0
    idcg = np.tile(np.cumsum(1 / np.log2(ranks + 1)), (n, 1))
    for row, cut in enumerate(np.minimum(n_rel, length)):
        idcg[row, cut:] = idcg[row, cut - 1]
    dcg = np.cumsum(np.where(hits, 1 / np.log2(ranks + 1), 0), axis=1)
    return {"recall": recall, "hit": hit, "mrr": mrr, "ndcg": dcg / idcg}


def test_matches_recbole_definitions_on_random_lists():
    rng = np.random.default_rng(0)
    hits = rng.random((200, 50)) < 0.1
    n_rel = hits.sum(axis=1) + rng.integers(1, 20, size=200)
    ref = _recbole_loops(hits, n_rel)
    for k in (1, 5, 10, 50):
        got = topk_metrics(hits, n_rel, [(f, k) for f in ("recall", "ndcg", "mrr", "hit")])
        for family in ("recall", "ndcg", "mrr", "hit"):
            assert got[f"{family}@{k}"] == pytest.approx(ref[family][:, k - 1].mean()), family


def test_hit_matrix_marks_relevant_pairs_and_ignores_padding():
    recommended = np.array([[2, 0, -1], [1, 3, 0]])
    hits = hit_matrix(recommended, np.array([0, 1, 1]), np.array([0, 0, 3]))
    assert hits.tolist() == [[False, True, False], [False, True, True]]
