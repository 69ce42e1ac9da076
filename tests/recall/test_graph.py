import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
import torch

from ecorec.core.contracts import Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall.graph import LightGCNRecall
from ecorec.recall.graph_model import LightGCN, bpr_loss, normalized_adjacency, sample_negatives
from ecorec.testing.recall import RecallChannelContract

from ._blocks import block_of, block_table

SMALL = {"embedding_size": 8, "epochs": 30, "learning_rate": 0.05, "batch_size": 64}


class TestLightGCNContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return LightGCNRecall({"n": 50, "embedding_size": 8, "epochs": 2, "batch_size": 1024})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


@pytest.fixture(scope="module")
def blocks() -> LightGCNRecall:
    gcn = LightGCNRecall({"n": 6, **SMALL})
    gcn.train(TrainingData(table=block_table()))
    return gcn


def profile(user_id: str, *items: str, start: float = 0.0) -> Profile:
    recent = [(i, start + t) for t, i in enumerate(items)]
    return Profile(user_id, recent=recent, seen=set(items))


# -- the model, by hand -----------------------------------------------------------------------


def test_normalized_adjacency_is_symmetric_degree_normalised():
    # u0-{i0, i1}, u1-{i1}: degrees u0=2, u1=1, i0=1, i1=2
    graph = normalized_adjacency(sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 1.0]])))
    dense = graph.toarray()
    expected = np.zeros((4, 4))
    expected[0, 2] = expected[2, 0] = 1 / np.sqrt(2 * 1)
    expected[0, 3] = expected[3, 0] = 1 / np.sqrt(2 * 2)
    expected[1, 3] = expected[3, 1] = 1 / np.sqrt(1 * 2)
    assert np.allclose(dense, expected)


def test_propagation_is_the_mean_of_layers_and_differentiable():
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    model = LightGCN(matrix, 3, layers=2, generator=torch.Generator().manual_seed(0))
    a = torch.from_numpy(normalized_adjacency(matrix).toarray())
    ego = model.ego.detach().clone().requires_grad_(True)
    expected = (ego + a @ ego + a @ (a @ ego)) / 3
    users, items = model.propagate()
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-6)
    # the scipy-backed product has the gradient of the dense one
    weights = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    (torch.cat([users, items]) * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(model.ego.grad, ego.grad, atol=1e-5)


def test_fold_in_vectors_rebuild_a_users_embedding_from_their_items():
    # users: u0-{i0, i1}, u1-{i1, i2}, u2-{i0, i1, i2}
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    for layers in (1, 2, 3):
        model = LightGCN(matrix, 4, layers=layers, generator=torch.Generator().manual_seed(1))
        fold = model.fold_in_vectors()
        with torch.no_grad():
            users, _ = model.propagate()
            ego = model.ego[:3].numpy()
        for u, items in enumerate(([0, 1], [1, 2], [0, 1, 2])):
            from_items = fold[items].sum(axis=0) / np.sqrt(len(items))
            expected = users[u].numpy() - ego[u] / (layers + 1)
            assert np.allclose(from_items, expected, atol=1e-6)


def test_bpr_loss_by_hand():
    matrix = sp.csr_matrix(np.array([[1.0, 0.0]]))
    model = LightGCN(matrix, 2, layers=0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.ego.copy_(torch.tensor([[1.0, 0.0], [2.0, 0.0], [-1.0, 1.0]]))
    users, pos, neg = torch.tensor([0]), torch.tensor([0]), torch.tensor([1])
    # x_ui = 2, x_uj = -1 -> -log(sigmoid(3)); squares 1 + 4 + 2 = 7
    loss = bpr_loss(model, users, pos, neg, reg=0.1)
    expected = -np.log(1 / (1 + np.exp(-3.0))) + 0.1 * 7 / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)


def test_negatives_are_never_observed_pairs():
    rng = np.random.default_rng(0)
    n_items = 10
    users = np.repeat(np.arange(50), 4)
    items = rng.integers(n_items, size=len(users))
    observed = np.unique(users * n_items + items)
    neg = sample_negatives(users, n_items, observed, rng, tries=50)
    assert not np.isin(users * n_items + neg, observed).any()
    assert len(np.unique(neg)) > 5  # still spread over the catalog


# -- the channel ------------------------------------------------------------------------------


def test_known_users_get_their_own_community(blocks):
    for user, block in (("a3", "A"), ("b7", "B")):
        out = blocks(Request(user), Profile(user))  # the trained embedding
        assert {block_of(c.item_id) for c in out} == {block}


@pytest.mark.parametrize("fold_in", ["propagate", "mean"])
def test_new_users_are_folded_in_from_their_items(fold_in):
    gcn = LightGCNRecall({"n": 6, **SMALL, "fold_in": fold_in})
    gcn.train(TrainingData(table=block_table()))
    out = gcn(Request("new"), profile("new", "B0", "B4"))
    assert {c.item_id for c in out[:4]} == {"B1", "B2", "B3", "B5"}
    rows = [gcn._item_index["B0"], gcn._item_index["B4"]]
    power = 0.5 if fold_in == "propagate" else 1.0
    assert gcn.user_vector(profile("new", "B0", "B4")) == pytest.approx(
        gcn.fold_vectors[rows].sum(axis=0) / 2**power
    )
    if fold_in == "mean":  # the fold-in vectors are then the served item embeddings
        assert np.allclose(gcn.fold_vectors[rows[0]], gcn.index.vector("B0"))


def test_trained_embedding_until_something_newer_then_fold_in(blocks):
    trained_row = blocks._user_index["a0"]
    last = blocks.user_last_ts[trained_row]
    same = profile("a0", "A0", "A1", "A2", "A3", start=last - 3)
    assert np.array_equal(blocks.user_vector(same), blocks.user_vectors[trained_row])
    # five clicks recorded a moment ago, all in the other community: B5 is now the best bet
    clicked = Profile("a0", recent=same.recent + [(f"B{i}", last + 1 + i) for i in range(5)])
    clicked.seen = {i for i, _ in clicked.recent}
    first = blocks(Request("a0"), same)[0]
    after = blocks(Request("a0"), clicked)
    assert block_of(first.item_id) == "A"
    assert after[0].item_id == "B5"
    assert not {c.item_id for c in after} & clicked.seen
    rows = [blocks._item_index[i] for i, _ in clicked.recent]
    expected = blocks.fold_vectors[rows].sum(axis=0) / np.sqrt(len(rows))
    assert blocks.user_vector(clicked) == pytest.approx(expected)


def test_unknown_user_without_known_items_gets_nothing(blocks):
    assert blocks(Request("z"), Profile("z")) == []
    assert blocks(Request("z"), profile("z", "never-seen")) == []


def test_training_is_seeded_and_reports_progress():
    data = TrainingData(table=block_table())
    seen: list[tuple[int, float]] = []
    one = LightGCNRecall({**SMALL, "epochs": 5})
    one.train(data, {"progress": lambda epoch, loss: seen.append((epoch, loss))})
    two = LightGCNRecall({**SMALL, "epochs": 5})
    two.train(data)
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[-1][1] < seen[0][1]  # BPR loss goes down
    assert np.array_equal(one.user_vectors, two.user_vectors)
    assert np.array_equal(one.fold_vectors, two.fold_vectors)
    other = LightGCNRecall({**SMALL, "epochs": 5, "seed": 1})
    other.train(data)
    assert not np.array_equal(one.user_vectors, other.user_vectors)


def test_one_item_dataset_works():
    table = pa.table({"user_id": ["u", "v"], "item_id": ["x", "x"], "rating": [1.0, 1.0]})
    gcn = LightGCNRecall({**SMALL, "epochs": 1, "exclude_seen": False})
    gcn.train(TrainingData(table=table))
    assert [c.item_id for c in gcn(Request("u"), Profile("u"))] == ["x"]


def test_large_graphs_grow_the_batch_not_the_steps(monkeypatch):
    steps: list[int] = []

    class Counting(torch.optim.Adam):
        def step(self, closure=None):
            steps.append(1)
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Counting)
    data = TrainingData(table=block_table())  # 60 pairs
    gcn = LightGCNRecall({**SMALL, "epochs": 2, "batch_size": 4, "max_batches_per_epoch": 3})
    gcn.train(data)
    assert len(steps) == 2 * 3  # 60 pairs in 3 batches of 20, twice
