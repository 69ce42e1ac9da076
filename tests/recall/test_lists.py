import numpy as np

from ecorec.recall.lists import unskipped


def test_unskipped_reads_past_a_long_skip_in_slices():
    item_ids = np.array([f"i{k}" for k in range(1000)])
    rows = np.arange(999, -1, -1)
    skip = {f"i{k}" for k in range(900, 1000)} | {"i5", "not-an-item"}
    ids, at = unskipped(item_ids, rows, skip, 10)
    assert ids == [f"i{k}" for k in range(899, 889, -1)]
    assert at == list(range(100, 110))
    assert item_ids[rows[at]].tolist() == ids


def test_unskipped_returns_what_there_is():
    item_ids = np.array(["a", "b", "c"])
    assert unskipped(item_ids, np.array([0, 1, 2]), {"b"}, 5) == (["a", "c"], [0, 2])
    assert unskipped(item_ids, np.array([2, 0]), set(), 1) == (["c"], [0])
    assert unskipped(item_ids, np.empty(0, dtype=np.int64), {"a"}, 3) == ([], [])
