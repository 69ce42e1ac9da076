"""Coverage, long-tail share and exposure Gini: hand-computed answers."""

import numpy as np
import pytest

from ecorec.metrics.beyond_accuracy import (
    exposure_gini,
    item_coverage,
    long_tail_mask,
    long_tail_share,
)

RECS = np.array([[0, 1], [0, 2], [3, -1]])  # the last list is short (padding -1)


def test_coverage_counts_distinct_filled_slots():
    assert item_coverage(RECS, 8) == pytest.approx(4 / 8)
    assert item_coverage(np.full((2, 3), -1), 8) == 0.0


def test_long_tail_mask_is_the_catalog_outside_the_top_fifth():
    # 10 items, head = ceil(20% of 10) = 2 most interacted; ties go to the lower index
    counts = np.array([5, 9, 5, 5, 1, 0, 0, 0, 0, 0])
    assert np.flatnonzero(~long_tail_mask(counts)).tolist() == [0, 1]
    # items never interacted with are never head, even when the head is not full
    sparse = np.array([3, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert np.flatnonzero(~long_tail_mask(sparse)).tolist() == [0]
    # 6 items: ceil(1.2) = 2 head items
    assert (~long_tail_mask(np.array([1, 2, 3, 4, 5, 6]))).sum() == 2


def test_long_tail_share_is_slot_weighted():
    tail = long_tail_mask(np.array([9, 1, 1, 0, 0]))  # head = {0}
    # filled slots: 0, 1, 0, 2, 3 -> tail slots 1, 2, 3 = 3 of 5
    assert long_tail_share(RECS, tail) == pytest.approx(3 / 5)
    assert long_tail_share(np.full((1, 2), -1), tail) == 0.0


def test_gini_by_hand():
    # exposure per item of 5: [2, 1, 1, 1, 0] -> sorted [0, 1, 1, 1, 2], weights 2i-n-1
    expected = (-4 * 0 - 2 * 1 + 0 * 1 + 2 * 1 + 4 * 2) / (5 * 5)
    assert exposure_gini(RECS, 5) == pytest.approx(expected)
    assert exposure_gini(np.array([[0, 1, 2]]), 3) == pytest.approx(0.0)  # equal exposure
    assert exposure_gini(np.array([[2], [2], [2]]), 3) == pytest.approx(2 / 3)  # (n-1)/n


def test_bad_catalog_sizes_are_refused():
    with pytest.raises(ValueError, match="catalog"):
        item_coverage(RECS, 0)
    with pytest.raises(ValueError, match="head_share"):
        long_tail_mask(np.array([1, 2]), head_share=1.5)
