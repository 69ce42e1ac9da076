import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.mf import ALSRecall
from ecorec.testing.recall import RecallChannelContract

from ._blocks import block_of, block_table

# few factors and firm regularisation: 24 users cannot be memorised, the two blocks are found
SMALL = {"factors": 4, "iterations": 10, "regularization": 3.0, "alpha": 10.0}


class TestALSContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return ALSRecall({"n": 50, **SMALL})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


@pytest.fixture(scope="module")
def blocks() -> ALSRecall:
    als = ALSRecall({"n": 5, **SMALL})
    als.train(TrainingData(table=block_table()))
    return als


def profile(user_id: str, *items: str) -> Profile:
    return Profile(user_id, recent=[(i, float(t)) for t, i in enumerate(items)], seen=set(items))


def test_candidates_stay_in_the_users_community(blocks):
    out = blocks(Request("new"), profile("new", "A0", "A1"))
    assert {block_of(c.item_id) for c in out[:4]} == {"A"}
    assert {c.item_id for c in out[:4]} == {"A2", "A3", "A4", "A5"}
    out = blocks(Request("b3"), profile("b3", "B1", "B2"))
    assert {block_of(c.item_id) for c in out[:4]} == {"B"}


def test_fold_in_is_implicits_recalculate_user(blocks):
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=4, regularization=3.0, alpha=10.0, random_state=0, num_threads=1
    )
    model.item_factors = blocks.item_factors
    columns = [blocks._item_index[i] for i in ("A0", "A3", "B2")]
    row = sp.csr_matrix(
        (np.ones(3, np.float32), (np.zeros(3, int), columns)),
        shape=(1, len(blocks.item_ids)),
    )
    expected = model.recalculate_user(0, row)
    got = blocks.user_vector(profile("x", "A0", "A3", "B2"))
    assert np.allclose(got, expected, atol=1e-4)


def test_a_new_click_changes_the_next_request(blocks):
    before = profile("u", "A0")
    first = blocks(Request("u"), before)
    assert block_of(first[0].item_id) == "A"
    after = profile("u", "A0", "B0", "B1", "B2")  # three clicks recorded a moment ago
    second = blocks(Request("u"), after)
    assert block_of(second[0].item_id) == "B"
    assert not {c.item_id for c in second} & after.seen


def test_scores_are_inner_products_with_the_folded_vector(blocks):
    prof = profile("u", "A0", "A1")
    vector = blocks.user_vector(prof)
    for c in blocks(Request("u"), prof):
        item = blocks.item_factors[blocks._item_index[c.item_id]]
        assert c.score == pytest.approx(float(item @ vector), rel=1e-4, abs=1e-6)


def test_unknown_items_only_gives_nothing(blocks):
    assert blocks(Request("z"), profile("z", "never-seen")) == []
    assert blocks.user_vector(Profile("z")) is None


def test_seen_items_can_be_kept():
    als = ALSRecall({"n": 12, "exclude_seen": False, **SMALL, "ann": {"kind": "flat"}})
    als.train(TrainingData(table=block_table()))
    prof = profile("a0", "A0", "A1")
    prof.negatives.add("A2")
    ids = {c.item_id for c in als(Request("a0"), prof)}
    assert {"A0", "A1"} <= ids
    assert "A2" not in ids


class _Catalog:
    """Just enough of a Catalog for item metadata: a list of items."""

    def __init__(self, items):
        self.items = items

    def scan(self, kind):
        return iter(self.items if kind is Item else [])


def test_deleted_items_are_trained_on_but_never_served():
    table = block_table()
    items = [Item(f"A{i}", deleted=(i == 2)) for i in range(6)]
    als = ALSRecall({"n": 10, **SMALL})
    als.train(TrainingData(table=table, catalog=_Catalog(items)))
    assert "A2" not in als.index
    assert len(als.index) == 11
    out = als(Request("u"), profile("u", "A2"))  # history may hold the deleted item
    assert out and "A2" not in {c.item_id for c in out}
    assert block_of(out[0].item_id) == "A"


def test_same_seed_same_model():
    data = TrainingData(table=block_table())
    one, two = ALSRecall(SMALL), ALSRecall(SMALL)
    one.train(data)
    two.train(data)
    assert np.array_equal(one.item_factors, two.item_factors)
    other = ALSRecall({**SMALL, "seed": 7})
    other.train(data)
    assert not np.array_equal(one.item_factors, other.item_factors)


def test_one_item_dataset_works():
    table = pa.table({"user_id": ["u", "v"], "item_id": ["x", "x"], "rating": [1.0, 1.0]})
    als = ALSRecall(SMALL)
    als.train(TrainingData(table=table))
    assert als(Request("u"), profile("u", "x")) == []  # the only item is already seen
    keep = ALSRecall({**SMALL, "exclude_seen": False})
    keep.train(TrainingData(table=table))
    assert [c.item_id for c in keep(Request("u"), profile("u", "x"))] == ["x"]


def test_long_histories_fold_in_from_the_recent_items(blocks):
    als = ALSRecall({"n": 3, **SMALL, "max_history": 2})
    als.train(TrainingData(table=block_table()))
    prof = profile("u", "A0", "A1", "A2", "B0", "B1")  # 5 seen > 2: only B0, B1 count
    assert np.allclose(als.user_vector(prof), als.user_vector(profile("u", "B0", "B1")))
