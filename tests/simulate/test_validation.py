"""The response model against MovieLens-100K: KS distances within the stated tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from ecorec.data.datasets import load_dataset
from ecorec.simulate.validation import TOLERANCES, ks_distance, validate


def test_ks_distance_known_answers():
    assert ks_distance(np.array([1, 2, 3]), np.array([1, 2, 3])) == 0.0
    assert ks_distance(np.array([0, 0]), np.array([5, 5])) == 1.0
    assert ks_distance(np.array([1, 2, 3, 4]), np.array([3, 4, 5, 6])) == 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_ml100k_popularity_and_activity_within_tolerance(ml100k, seed):
    result = validate(load_dataset(str(ml100k), "recbole", {}), seed=seed)
    assert result["held_out_interactions"] == 19999
    assert result["popularity_ks"] <= TOLERANCES["popularity_ks"]
    assert result["activity_ks"] <= TOLERANCES["activity_ks"]
    # and the fitted model is far closer than a uniform, one-rate null model
    assert result["popularity_ks"] < result["null_popularity_ks"] / 2
    assert result["activity_ks"] < result["null_activity_ks"]
    assert result["passed"]
