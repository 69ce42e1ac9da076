import numpy as np
import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile, ProfileDelta
from ecorec.recall.ease import EASERecall
from ecorec.testing.recall import RecallChannelContract
from tests.recall.cooc_helpers import data, from_matrix, random_binary


class TestEASEContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return EASERecall({"n": 50})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


class TestEASESparseContract(TestEASEContract):
    @pytest.fixture
    def channel(self):
        return EASERecall({"n": 50, "keep_top": 30})


def closed_form(x: np.ndarray, reg: float) -> np.ndarray:
    """Steck 2019, eq. 8, computed directly."""
    p = np.linalg.inv(x.T @ x + reg * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)  # I - P diagMat(1 / diag(P))
    np.fill_diagonal(b, 0.0)
    return b


@pytest.fixture
def tiny():
    x = random_binary(12, 6, 0.4, seed=7)
    ease = EASERecall({"n": 6, "reg": 2.0})
    ease.train(from_matrix(x))
    order = [int(i[1:]) for i in ease.item_ids]  # channel columns -> columns of x
    return x, ease, order


def test_weights_equal_the_closed_form(tiny):
    x, ease, order = tiny
    expected = closed_form(x, 2.0)[np.ix_(order, order)]
    np.testing.assert_allclose(ease.weights, expected, rtol=1e-5, atol=1e-6)
    assert ease.weights.dtype == np.float32
    assert np.all(np.diag(ease.weights) == 0.0)


def test_recommended_order_matches_the_closed_form(tiny):
    x, ease, _ = tiny
    b = closed_form(x, 2.0)
    for user in range(len(x)):
        seen = {f"i{c}" for c in np.flatnonzero(x[user])}
        scores = x[user] @ b
        expected = [f"i{c}" for c in np.argsort(-scores, kind="stable") if f"i{c}" not in seen]
        out = ease(Request(f"u{user}"), Profile(f"u{user}", seen=seen))
        assert [c.item_id for c in out] == expected
        np.testing.assert_allclose(
            [c.score for c in out], [scores[int(c.item_id[1:])] for c in out], rtol=1e-5
        )


def test_a_new_click_folds_in_without_retraining(tiny):
    x, ease, _ = tiny
    b = closed_form(x, 2.0)
    profile = Profile("newcomer", seen={"i0"})
    before = ease(Request("newcomer"), profile)
    profile.apply(ProfileDelta(recent=[("i1", 1.0)]))
    after = ease(Request("newcomer"), profile)
    expected = b[0] + b[1]
    assert {c.item_id for c in after} == {f"i{c}" for c in range(2, 6)}
    for c in after:
        assert c.score == pytest.approx(expected[int(c.item_id[1:])], rel=1e-5)
    assert {c.item_id: round(c.score, 5) for c in before} == {
        f"i{c}": round(float(b[0][c]), 5) for c in range(1, 6)
    }


def test_sparse_rows_keep_the_top_weights(tiny):
    x, _, _ = tiny
    sparse = EASERecall({"reg": 2.0, "keep_top": 2})
    sparse.train(from_matrix(x))
    dense = EASERecall({"reg": 2.0})
    dense.train(from_matrix(x))
    assert np.diff(sparse.weights.indptr).max() <= 2
    for row in range(6):
        kept = sparse.weights[row].indices
        best = np.sort(dense.weights[row])[-2:]
        np.testing.assert_allclose(np.sort(sparse.weights[row].data), best[best > 0], rtol=1e-6)
        assert row not in kept


def test_refuses_large_catalogs_and_suggests_item_cf():
    ease = EASERecall({"max_items": 3})
    with pytest.raises(ValueError, match=r"max_items=3.*item_cf"):
        ease.train(from_matrix(random_binary(5, 4, 0.5, seed=0)))


def test_negatives_seen_and_deleted_are_skipped():
    rows = [(u, i, 0.0) for u in ("u1", "u2", "u3") for i in "abcd"] + [("u4", "a", 0.0)]
    items = [Item(i, deleted=(i == "d")) for i in "abcd"]
    ease = EASERecall({"reg": 1.0})
    ease.train(data(rows, items))
    out = ease(Request("u4"), Profile("u4", seen={"a"}, negatives={"b"}))
    assert [c.item_id for c in out] == ["c"]
    assert ease(Request("x"), Profile("x")) == []
    assert ease(Request("x"), Profile("x", seen={"zzz"})) == []
