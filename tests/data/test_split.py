import numpy as np
import pyarrow as pa
import pytest

from ecorec.data.datasets import load_dataset
from ecorec.data.split import split_counts, split_leave_last_out, split_ratio, split_temporal


def _table(users, items, stamps):
    return pa.table(
        {
            "user_id": users,
            "item_id": items,
            "rating": [1.0] * len(users),
            "timestamp": [float(t) for t in stamps],
        }
    )


def test_split_counts_match_recbole():
    assert split_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_counts(5, (0.8, 0.1, 0.1)) == [3, 1, 1]
    assert split_counts(2, (0.8, 0.1, 0.1)) == [1, 0, 1]
    assert split_counts(1, (0.8, 0.1, 0.1)) == [1, 0, 0]
    with pytest.raises(ValueError):
        split_counts(10, (1.0,))


def test_ratio_split_is_per_user_seeded_and_disjoint(ml100k):
    table = load_dataset(str(ml100k), "recbole").interactions
    parts = split_ratio(table, (0.8, 0.1, 0.1), seed=2020)
    assert sum(p.num_rows for p in parts) == table.num_rows
    again = split_ratio(table, (0.8, 0.1, 0.1), seed=2020)
    assert all(a.equals(b) for a, b in zip(parts, again, strict=True))
    other = split_ratio(table, (0.8, 0.1, 0.1), seed=1)
    assert not parts[2].equals(other[2])
    keys = [
        set(zip(p.column("user_id").to_pylist(), p.column("item_id").to_pylist(), strict=True))
        for p in parts
    ]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    # every ML-100K user has >= 20 ratings, so every user is in every part
    for part in parts:
        assert len(set(part.column("user_id").to_pylist())) == 943
    # per user, the parts follow RecBole's counts
    users = np.array(table.column("user_id").to_pylist())
    u = users[0]
    n = int((users == u).sum())
    sizes = [int((np.array(p.column("user_id").to_pylist()) == u).sum()) for p in parts]
    assert sizes == split_counts(n, (0.8, 0.1, 0.1))


def test_temporal_split_orders_by_time():
    table = _table(["a", "b", "a", "c", "b"] * 2, list("vwxyz") * 2, [5, 1, 9, 3, 7, 2, 8, 4, 6, 0])
    train, valid, test = split_temporal(table, (0.8, 0.1, 0.1))
    assert train.num_rows == 8 and valid.num_rows == 1 and test.num_rows == 1
    assert max(train.column("timestamp").to_pylist()) <= valid.column("timestamp")[0].as_py()
    assert test.column("timestamp").to_pylist() == [9.0]


def test_leave_last_out():
    table = _table(["a", "a", "a", "b", "b", "c"], list("xyzxyz"), [3, 1, 2, 5, 4, 1])
    train, valid, test = split_leave_last_out(table)
    assert sorted(
        zip(test.column("user_id").to_pylist(), test.column("item_id").to_pylist(), strict=True)
    ) == [("a", "x"), ("b", "x")]
    assert valid.to_pylist()[0]["item_id"] == "z" and valid.num_rows == 1
    assert train.num_rows == 3
