import numpy as np
import pytest
import scipy.sparse as sp

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.recall.user_cf import UserCFRecall, _cap_item_users
from ecorec.testing.recall import RecallChannelContract
from tests.recall.cooc_helpers import DAY, data, from_matrix, random_binary


class TestUserCFContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return UserCFRecall({"n": 50})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


# u1 ~ u2 (share a, b: cosine 2/3), u1 ~ u3 (share a: cosine 1/sqrt(6))
ROWS = [
    ("u1", "a", 0.0),
    ("u1", "b", 0.0),
    ("u1", "c", 0.0),
    ("u2", "a", 0.0),
    ("u2", "b", 0.0),
    ("u2", "d", 0.0),
    ("u3", "a", 0.0),
    ("u3", "e", 0.0),
]
PLAIN = {"iif": False, "sim_power": 1.0}


def profile_of(user: str) -> Profile:
    items = [(i, t) for u, i, t in ROWS if u == user]
    return Profile(user, recent=items, seen={i for i, _ in items})


@pytest.mark.parametrize("iif", [False, True])
def test_neighbours_are_the_top_cosines(iif):
    x = random_binary(30, 12, 0.3, seed=4)
    user_cf = UserCFRecall({"neighbours": 4, "iif": iif})
    user_cf.train(from_matrix(x))
    order = [int(i[1:]) for i in user_cf.item_ids]
    cols = x[:, order]
    weights = 1.0 / np.log1p(cols.sum(axis=0)) if iif else np.ones(cols.shape[1])
    vectors = cols * weights
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = vectors @ vectors.T
    np.fill_diagonal(cosine, 0.0)
    assert [int(u[1:]) for u in user_cf.user_ids] == list(range(30))
    got = user_cf.neighbours.toarray()
    for row in range(30):
        kept = np.flatnonzero(got[row])
        assert len(kept) == 4
        np.testing.assert_allclose(got[row, kept], cosine[row, kept], rtol=1e-5)
        # nobody left out is closer than the farthest neighbour kept
        assert np.delete(cosine[row], kept).max() <= got[row, kept].min() + 1e-6


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_scores_by_hand(power):
    user_cf = UserCFRecall({**PLAIN, "sim_power": power})
    user_cf.train(data(ROWS))
    out = user_cf(Request("u1"), profile_of("u1"))
    assert [c.item_id for c in out] == ["d", "e"]
    assert out[0].score == pytest.approx((2 / 3) ** power, rel=1e-5)
    assert out[1].score == pytest.approx((1 / np.sqrt(6)) ** power, rel=1e-5)


def test_unknown_user_is_folded_in_through_the_profile():
    user_cf = UserCFRecall(PLAIN)
    user_cf.train(data(ROWS))
    known = user_cf(Request("u1"), profile_of("u1"))
    newcomer = profile_of("u1")
    newcomer.user_id = "newcomer"
    users, sims = user_cf.similar_users(newcomer)
    by_id = dict(zip(user_cf.user_ids[users], sims, strict=True))
    # the same cosines a trained user gets, plus u1 itself (identical vector)
    assert by_id == pytest.approx({"u1": 1.0, "u2": 2 / 3, "u3": 1 / np.sqrt(6)})
    folded = user_cf(Request("newcomer"), newcomer)
    assert [(c.item_id, round(c.score, 5)) for c in folded] == [
        (c.item_id, round(c.score, 5)) for c in known
    ]
    assert user_cf(Request("x"), Profile("x")) == []
    assert user_cf(Request("x"), Profile("x", recent=[("zzz", 0.0)])) == []


def test_fold_in_cost_is_capped_per_item():
    rows = [(f"u{k}", "a", float(k)) for k in range(10)] + [("u9", "b", 0.0)]
    user_cf = UserCFRecall({**PLAIN, "index_users": 3})
    user_cf.train(data(rows))
    row = user_cf._items["a"]
    listed = user_cf.user_ids[user_cf.item_users[row].indices]
    assert sorted(listed) == ["u7", "u8", "u9"]  # a's three most recent users


def test_head_item_sampling_caps_users_per_item():
    x = sp.csr_matrix(random_binary(50, 8, 0.6, seed=5))
    capped = _cap_item_users(x, 7, seed=0)
    assert np.diff(capped.tocsc().indptr).max() == 7
    assert (capped.toarray() <= x.toarray()).all()  # a subset of the original cells
    assert _cap_item_users(x, 0, seed=0) is x


def test_neighbour_items_weigh_by_recency_and_newest_only():
    now = 100 * DAY
    rows = [
        ("u1", "a", now),
        ("u2", "a", now),
        ("u2", "old", now - 20 * DAY),
        ("u2", "new", now - 1.0),
    ]
    decayed = UserCFRecall({**PLAIN, "recency_half_life_days": 10.0})
    decayed.train(data(rows))
    out = decayed(Request("u1"), profile_of_rows(rows, "u1"))
    assert [c.item_id for c in out] == ["new", "old"]
    assert out[1].score == pytest.approx(out[0].score / 4, rel=1e-3)  # two half-lives older
    newest_only = UserCFRecall({**PLAIN, "max_user_items": 2})
    newest_only.train(data(rows))
    assert [c.item_id for c in newest_only(Request("u1"), profile_of_rows(rows, "u1"))] == ["new"]


def profile_of_rows(rows, user):
    items = [(i, t) for u, i, t in rows if u == user]
    return Profile(user, recent=items, seen={i for i, _ in items})


def test_negatives_seen_and_deleted_are_skipped():
    items = [Item(i, deleted=(i == "e")) for i in "abcde"]
    user_cf = UserCFRecall(PLAIN)
    user_cf.train(data(ROWS, items))
    profile = profile_of("u1")
    assert [c.item_id for c in user_cf(Request("u1"), profile)] == ["d"]  # e deleted
    profile.negatives.add("d")
    assert user_cf(Request("u1"), profile) == []
