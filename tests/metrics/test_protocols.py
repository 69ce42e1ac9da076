"""Splits for evaluation: masks, relevant items, profiles and scoring by known answers."""

import numpy as np
import pytest

from ecorec.core.entities import Item
from ecorec.data.datasets import DatasetError
from ecorec.data.datasets.base import Dataset, interactions_table
from ecorec.metrics.protocols import K_MAX, prepare_split


def _dataset(users=4, per_user=10):
    u, i, t = [], [], []
    for a in range(users):
        for b in range(per_user):
            u.append(f"u{a}")
            i.append(f"i{(a + b) % 20:02d}")
            t.append(1000.0 * a + b)
    items = [Item(f"i{k:02d}", category="even" if k % 2 == 0 else "odd") for k in range(20)]
    return Dataset("toy", interactions_table(u, i, timestamps=t), items=items)


def _rows(table, user):
    return [
        i
        for u, i in zip(table["user_id"].to_pylist(), table["item_id"].to_pylist(), strict=True)
        if u == user
    ]


def test_recbole_811_parts_masks_and_relevant_items():
    split = prepare_split(_dataset(), "recbole-811", seed=1)
    assert (split.train.num_rows, split.valid.num_rows, split.test.num_rows) == (32, 4, 4)
    assert split.n_items == 20 and split.users("test") == ["u0", "u1", "u2", "u3"]
    train, valid, test = (_rows(t, "u1") for t in (split.train, split.valid, split.test))
    assert split.masked("u1", "valid") == set(train)
    assert split.masked("u1", "test") == set(train) | set(valid)
    assert split.item_ids[split.relevant["test"]["u1"]].tolist() == test
    assert split.now == 3010.0  # newest training interaction (3009 at most) + 1
    assert split.summary()["seed"] == 1


def test_same_seed_same_split_other_seed_other_split():
    a, b = prepare_split(_dataset(), seed=3), prepare_split(_dataset(), seed=3)
    c = prepare_split(_dataset(), seed=4)
    assert a.test.to_pylist() == b.test.to_pylist()
    assert a.test.to_pylist() != c.test.to_pylist()


def test_profile_is_the_training_history_newest_last_with_category_interests():
    split = prepare_split(_dataset(), seed=1)
    profile = split.profile("u2")
    train = _rows(split.train, "u2")
    assert [i for i, _ in profile.recent] == sorted(train)  # items of u2 were consumed in order
    assert [ts for _, ts in profile.recent] == sorted(ts for _, ts in profile.recent)
    assert profile.seen == set(train)
    evens = sum(1 for i in train if int(i[1:]) % 2 == 0)
    assert profile.interests == {"even": evens, "odd": len(train) - evens}
    profile.seen.add("x")  # a fresh object each time: one channel cannot spoil the next
    assert "x" not in split.profile("u2").seen


def test_leave_last_out_tests_the_last_item():
    split = prepare_split(_dataset(), "leave-last-out")
    assert split.item_ids[split.relevant["test"]["u0"]].tolist() == ["i09"]
    assert split.item_ids[split.relevant["valid"]["u0"]].tolist() == ["i08"]


def test_score_by_hand():
    split = prepare_split(_dataset(), "leave-last-out")
    users = split.users("test")  # each user has exactly one relevant item
    first = {u: split.item_ids[split.relevant["test"][u]][0] for u in users}
    lists = {
        "u0": [first["u0"]],  # rank 1
        "u1": ["i00", first["u1"]],  # rank 2
        "u2": ["i00", "i01"],  # misses
        "u3": [],  # no candidates
    }
    recommended = split.indices(lists, users, K_MAX)
    got = split.score(recommended, "test", users)
    assert got["hit@10"] == pytest.approx(2 / 4)
    assert got["recall@10"] == pytest.approx(2 / 4)
    assert got["mrr@10"] == pytest.approx((1 + 1 / 2) / 4)
    assert got["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 4, abs=1e-6)
    assert got["coverage"] == pytest.approx(len({"i00", "i01", first["u0"], first["u1"]}) / 20)


def test_unknown_protocol_and_bad_files_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="known: recbole-811, leave-last-out"):
        prepare_split(_dataset(), "ctr-temporal")
    bad = tmp_path / "x.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(DatasetError, match="unknown column"):
        prepare_split(str(bad))
    empty = tmp_path / "e.csv"
    empty.write_text("user_id,item_id\n")
    with pytest.raises(DatasetError):
        prepare_split(str(empty))


def test_train_matrix_and_rank_apply_the_part_masks():
    split = prepare_split(_dataset(), "recbole-811", seed=1)
    users, matrix = split.train_matrix()
    assert users == ["u0", "u1", "u2", "u3"] and matrix.shape == (4, 20) and matrix.nnz == 32
    row = users.index("u1")
    assert set(split.item_ids[matrix[row].indices]) == split.masked("u1", "valid")
    scores = np.tile(np.arange(20, 0, -1, dtype=float), (4, 1))  # i00 best ... i19 worst
    ranked = split.rank(scores, users, "test")
    masked = {split.item_index[i] for i in split.masked("u1", "test")}
    expected = [k for k in range(20) if k not in masked]
    assert ranked[row, : len(expected)].tolist() == expected
    assert (ranked[row, len(expected) :] == -1).all()  # nothing left to rank past those
    assert ranked.shape == (4, K_MAX)


def test_training_data_is_the_train_part_with_the_dataset_metadata():
    split = prepare_split(_dataset(), seed=1)
    data = split.training_data()
    rows = sum(t.num_rows for t in data.interactions())
    assert rows == split.train.num_rows == 32
    assert {i.item_id: i.category for i in data.item_entities()}["i03"] == "odd"
    assert len(list(data.item_entities())) == 20
    assert {u.user_id for u in data.user_entities()} == {"u0", "u1", "u2", "u3"}
