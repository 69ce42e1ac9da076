import numpy as np
import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.matrix import InteractionMatrix
from ecorec.recall.item_cf import ItemCFConfig, ItemCFRecall, item_similarity
from ecorec.testing.recall import RecallChannelContract
from tests.recall.cooc_helpers import DAY, data, from_matrix, random_binary


class TestItemCFContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return ItemCFRecall({"n": 50})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


# u1, u2: a b / u3: a c / u4: d / u5, u6: e f — a's neighbours are b (2 users) then c (1)
ROWS = [
    ("u1", "a", 0.0),
    ("u1", "b", 0.0),
    ("u2", "a", 0.0),
    ("u2", "b", 0.0),
    ("u3", "a", 0.0),
    ("u3", "c", 0.0),
    ("u4", "d", 0.0),
    ("u5", "e", 0.0),
    ("u5", "f", 0.0),
    ("u6", "e", 0.0),
    ("u6", "f", 0.0),
]


def dense_reference(x: np.ndarray, alpha: float, iuf: bool, k: int) -> np.ndarray:
    """sim[i, j] straight from the formula; each column j keeps its k best rows i."""
    damp = 1.0 / np.log1p(x.sum(axis=1)) if iuf else np.ones(len(x))
    counts = (x * damp[:, None]).T @ x
    n = x.sum(axis=0)
    sim = counts / (n[:, None] ** alpha * n[None, :] ** (1 - alpha))
    np.fill_diagonal(sim, 0.0)
    out = np.zeros_like(sim)
    for j in range(sim.shape[1]):
        best = np.argsort(-sim[:, j], kind="stable")[:k]
        out[best, j] = sim[best, j]
    return out


def test_cosine_scores_by_hand():
    item_cf = ItemCFRecall({"n": 10, "alpha": 0.5, "iuf": False})
    item_cf.train(data(ROWS))
    out = item_cf(Request("u9"), Profile("u9", recent=[("a", 0.0)], seen={"a"}))
    # sim(a, b) = 2 / sqrt(3 * 2); sim(a, c) = 1 / sqrt(3 * 1); d, e, f never met a
    assert [c.item_id for c in out] == ["b", "c"]
    assert out[0].score == pytest.approx(2 / np.sqrt(6), rel=1e-6)
    assert out[1].score == pytest.approx(1 / np.sqrt(3), rel=1e-6)


def test_alpha_one_is_conditional_frequency():
    item_cf = ItemCFRecall({"n": 10, "alpha": 1.0, "iuf": False})
    item_cf.train(data(ROWS))
    from_a = item_cf(Request("u9"), Profile("u9", recent=[("a", 0.0)]))
    from_c = item_cf(Request("u9"), Profile("u9", recent=[("c", 0.0)]))
    # P(b | a) = 2/3, P(c | a) = 1/3, P(a | c) = 1
    assert [(c.item_id, round(c.score, 6)) for c in from_a] == [("b", 0.666667), ("c", 0.333333)]
    assert [(c.item_id, c.score) for c in from_c] == [("a", pytest.approx(1.0))]


@pytest.mark.parametrize(("alpha", "iuf", "k"), [(0.5, False, 50), (0.7, True, 50), (0.3, True, 3)])
def test_similarity_matches_the_formula(alpha, iuf, k):
    x = random_binary(40, 15, 0.25, seed=1)
    matrix = InteractionMatrix.build(from_matrix(x), binary=True)
    got = item_similarity(matrix, ItemCFConfig(alpha=alpha, iuf=iuf, neighbours=k)).toarray()
    order = [int(i[1:]) for i in matrix.item_ids]  # matrix columns -> columns of x
    expected = dense_reference(x, alpha, iuf, k)[np.ix_(order, order)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_blocks_do_not_change_the_result():
    x = random_binary(60, 25, 0.2, seed=2)
    matrix = InteractionMatrix.build(from_matrix(x), binary=True)
    whole = item_similarity(matrix, ItemCFConfig(neighbours=5))
    tiny_blocks = item_similarity(matrix, ItemCFConfig(neighbours=5, block_nnz=7))
    np.testing.assert_array_equal(whole.toarray(), tiny_blocks.toarray())
    assert np.diff(whole.tocsc().indptr).max() <= 5  # each candidate keeps 5 history items


def test_fanout_caps_what_one_item_votes_for():
    x = random_binary(60, 25, 0.3, seed=3)
    matrix = InteractionMatrix.build(from_matrix(x), binary=True)
    capped = item_similarity(matrix, ItemCFConfig(neighbours=20, max_fanout=4))
    assert np.diff(capped.indptr).max() <= 4


def test_a_click_a_moment_ago_changes_the_next_request():
    item_cf = ItemCFRecall({"n": 10, "recency_half_life_days": 1.0})
    item_cf.train(data(ROWS))
    now = 30 * DAY
    profile = Profile("u9", recent=[("a", now - 5 * DAY)], seen={"a"})
    before = item_cf(Request("u9", ts=now), profile)
    assert [c.item_id for c in before] == ["b", "c"]
    profile.apply(ProfileDelta(recent=[("e", now - 60.0)]))  # the click, just recorded
    after = item_cf(Request("u9", ts=now), profile)
    assert after[0].item_id == "f"  # the newest item's neighbour leads
    assert {"b", "c", "f"} == {c.item_id for c in after}
    assert "e" not in {c.item_id for c in after}  # just consumed: seen


def test_training_decay_weighs_recent_co_occurrence_more():
    old, new = 0.0, 100 * DAY
    rows = [
        ("u1", "a", old),
        ("u1", "b", old),
        ("u2", "a", new),
        ("u2", "c", new),
    ]
    plain = ItemCFRecall({"iuf": False})
    plain.train(data(rows))
    decayed = ItemCFRecall({"iuf": False, "half_life_days": 10.0})
    decayed.train(data(rows))
    profile = Profile("u9", recent=[("a", new)])
    tied = plain(Request("u9"), profile)
    assert tied[0].score == pytest.approx(tied[1].score)  # b and c co-occur once each
    assert [c.item_id for c in decayed(Request("u9"), profile)] == ["c", "b"]


def test_exclusions_and_deleted_items():
    items = [Item(i, deleted=(i == "c")) for i in "abcdef"]
    item_cf = ItemCFRecall({"n": 10})
    item_cf.train(data(ROWS, items))
    profile = Profile("u9", recent=[("a", 0.0), ("e", 0.0)], seen={"a", "e"}, negatives={"f"})
    assert [c.item_id for c in item_cf(Request("u9"), profile)] == ["b"]  # c deleted, f negative
    keep_seen = ItemCFRecall({"n": 10, "exclude_seen": False})
    keep_seen.train(data(ROWS, items))
    profile = Profile("u9", recent=[("a", 0.0), ("b", 0.0)], seen={"a", "b"})
    assert {c.item_id for c in keep_seen(Request("u9"), profile)} == {"a", "b"}


def test_history_is_capped_to_the_newest_items():
    item_cf = ItemCFRecall({"n": 10, "max_history": 1})
    item_cf.train(data(ROWS))
    profile = Profile("u9", recent=[("a", 1.0), ("e", 2.0)])
    assert [c.item_id for c in item_cf(Request("u9"), profile)] == ["f"]


def test_unknown_items_and_empty_profiles_give_nothing():
    item_cf = ItemCFRecall()
    item_cf.train(data(ROWS))
    assert item_cf(Request("x"), Profile("x", recent=[("zzz", 0.0)])) == []
    assert item_cf(Request("x"), Profile("x")) == []


def test_one_item_dataset_trains_and_serves_nothing():
    item_cf = ItemCFRecall()
    item_cf.train(data([("u1", "a", 0.0)]))
    assert item_cf(Request("u1"), Profile("u1", recent=[("a", 0.0)])) == []
