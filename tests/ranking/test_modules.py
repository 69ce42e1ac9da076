"""Known answers and masking properties of the ranking blocks (ecorec.ranking.modules)."""

from __future__ import annotations

import pytest
import torch

from ecorec.features.schema import Field, FieldKind, Schema
from ecorec.ranking.modules import (
    AUGRU,
    Experts,
    FactorizationMachine,
    Gates,
    InterestEvolution,
    InterestExtractor,
    SchemaEmbedding,
    TargetAttention,
    masked_softmax,
    mix,
)

SCHEMA = Schema(
    (
        Field("user_id", FieldKind.SPARSE, 6),
        Field("item_id", FieldKind.SPARSE, 9),
        Field("genres", FieldKind.MULTI, 5, max_len=3),
        Field("history", FieldKind.SEQUENCE, max_len=4, embed="item_id"),
        Field("age", FieldKind.DENSE),
    ),
    sequence="history",
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch() -> dict[str, torch.Tensor]:
    return {
        "user_id": torch.tensor([2, 1]),
        "item_id": torch.tensor([5, 3]),
        "genres": torch.tensor([[2, 4, 0], [0, 0, 0]]),
        "history": torch.tensor([[5, 7, 0, 0], [0, 0, 0, 0]]),
        "age": torch.tensor([0.5, 1.5]),
    }


def test_fm_term_is_the_sum_of_pairwise_dot_products():
    v = torch.tensor([[[1.0, 2.0, 0.5], [-3.0, 4.0, 1.0], [5.0, -6.0, 2.0]]])
    expected = v[0, 0] @ v[0, 1] + v[0, 0] @ v[0, 2] + v[0, 1] @ v[0, 2]  # 5.5 - 6 - 37
    assert FactorizationMachine()(v).item() == pytest.approx(expected.item())
    assert FactorizationMachine()(v[:, :2]).item() == pytest.approx(5.5)


def test_embedding_pools_bags_over_real_ids_and_shares_the_item_table():
    block = SchemaEmbedding(SCHEMA, 4, attend="history")
    x = block(_batch())
    assert block.names == ["user_id", "item_id", "genres"]
    assert x.fields.shape == (2, 3, 4)
    genre = block.lookup("genres", torch.tensor([2, 4]))
    torch.testing.assert_close(x.fields[0, 2], genre.mean(0))  # PAD left out of the mean
    torch.testing.assert_close(x.fields[1, 2], torch.zeros(4))  # an empty bag is zero
    # the history reads item_id's table: code 5 in the history is the target's vector
    torch.testing.assert_close(x.sequence[0, 0], x.fields[0, 1])
    assert x.sequence.shape == (2, 2, 4)  # cut to the longest real history
    assert x.mask.tolist() == [[True, True], [False, False]]
    torch.testing.assert_close(x.dense, torch.tensor([[0.5], [1.5]]))


def test_embedding_tables_do_not_overlap_and_pad_is_zero():
    block = SchemaEmbedding(SCHEMA, 4)
    assert block.table.num_embeddings == 1 + 5 + 8 + 4  # PAD row + codes >= 1 of each table
    rows = {
        (name, code): int(torch.where(torch.tensor(code) > 0, code + block.base_of(name), 0))
        for name in ("user_id", "item_id", "genres")
        for code in range(1, SCHEMA[name].vocab_size)
    }
    assert len(set(rows.values())) == len(rows)
    assert block.base_of("history") == block.base_of("item_id")
    assert torch.all(block.lookup("user_id", torch.tensor([0])) == 0)


def test_embedding_linear_columns_sum_one_weight_per_id():
    block = SchemaEmbedding(SCHEMA, 4, linear=2)
    with torch.no_grad():
        block.table.weight[:, 4:] = torch.arange(block.table.num_embeddings).float()[:, None]
    x = block({k: v[:1] for k, v in _batch().items()})
    # user 2, item 5, genres mean(2, 4), history (pooled, not attended) mean(5, 7)
    expected = (
        (2 + block.base_of("user_id"))
        + (5 + block.base_of("item_id"))
        + (3 + block.base_of("genres"))
        + (6 + block.base_of("item_id"))
    )
    assert x.linear.tolist() == [[expected, expected]]


def test_din_attention_ignores_what_padded_positions_hold():
    torch.manual_seed(0)
    attention = TargetAttention(4)
    query, keys = torch.randn(3, 4), torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]).bool()
    noisy = torch.where(mask.unsqueeze(-1), keys, torch.randn(3, 5, 4) * 100)
    pooled = attention(query, keys, mask)
    torch.testing.assert_close(attention(query, noisy, mask), pooled)
    torch.testing.assert_close(pooled[2], torch.zeros(4))  # no history: no interest
    weights = attention.weights(query, noisy, mask)
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(pooled, (weights.unsqueeze(-1) * keys).sum(1))


def test_din_attention_first_layer_split_equals_the_paper_concatenation():
    torch.manual_seed(1)
    attention = TargetAttention(4, (6,))
    query, keys = torch.randn(2, 4), torch.randn(2, 3, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)
    q = query.unsqueeze(1).expand_as(keys)
    unit = attention.unit
    hidden = unit.first(torch.cat([q, keys, q - keys, q * keys], -1))
    expected = unit.rest(hidden).squeeze(-1)
    torch.testing.assert_close(attention.weights(query, keys, mask), expected)


def test_masked_softmax_sums_to_one_over_real_positions_and_zero_when_empty():
    scores = torch.tensor([[1.0, 2.0, 50.0], [3.0, 3.0, 3.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    weights = masked_softmax(scores, mask)
    torch.testing.assert_close(weights[0], torch.tensor([0.2689414, 0.7310586, 0.0]))
    assert torch.all(weights[1] == 0)


def test_augru_with_zero_attention_keeps_the_state_and_full_attention_is_a_gru():
    torch.manual_seed(2)
    augru = AUGRU(3)
    inputs = torch.randn(2, 4, 3)
    assert torch.all(augru(inputs, torch.zeros(2, 4)) == 0)
    # torch's GRU gate z keeps the old state (h = z h + (1 - z) n), the paper's u moves it:
    # u = sigmoid(a) = 1 - sigmoid(-a), so the same cell has the update rows negated.
    flip = torch.tensor([1.0] * 3 + [-1.0] * 3 + [1.0] * 3)
    gru = torch.nn.GRU(3, 3, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(augru.input.weight * flip[:, None])
        gru.bias_ih_l0.copy_(augru.input.bias * flip)
        gru.weight_hh_l0.copy_(augru.hidden.weight * flip[:, None])
        gru.bias_hh_l0.copy_(augru.hidden.bias * flip)
    torch.testing.assert_close(augru(inputs, torch.ones(2, 4)), gru(inputs)[0][:, -1])


def test_interest_evolution_stops_at_the_last_real_behaviour():
    torch.manual_seed(3)
    evolution = InterestEvolution(4)
    states, target = torch.randn(2, 6, 4), torch.randn(2, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]]).bool()
    noisy = torch.where(mask.unsqueeze(-1), states, torch.randn(2, 6, 4) * 100)
    final = evolution(states, target, mask)
    torch.testing.assert_close(evolution(noisy, target, mask), final)
    torch.testing.assert_close(evolution(states[:, :3], target, mask[:, :3]), final)
    assert torch.all(final[1] == 0)  # an empty history keeps the zero interest


def test_auxiliary_loss_rewards_states_that_point_at_the_next_item():
    behaviours = torch.eye(4).unsqueeze(0) * 5  # item t is the t-th axis
    mask = torch.tensor([[True, True, True, False]])
    negatives = -behaviours[:, 1:]
    aligned = torch.roll(behaviours, -1, 1)  # h_t = e_{t+1}
    good = InterestExtractor.auxiliary_loss(aligned, behaviours, negatives, mask)
    bad = InterestExtractor.auxiliary_loss(-aligned, behaviours, negatives, mask)
    assert 0 < good < 0.01 < 10 < bad
    empty = InterestExtractor.auxiliary_loss(aligned, behaviours, negatives, mask & False)
    assert empty.item() == 0.0


def test_experts_match_separate_mlps_and_gates_sum_to_one():
    torch.manual_seed(4)
    experts = Experts(5, 3, (6, 2))
    x = torch.randn(4, 5)
    out = experts(x)
    assert out.shape == (4, 3, 2)
    for e in range(3):
        h = torch.relu(x @ experts.weights[0][e] + experts.biases[0][e])
        h = torch.relu(h @ experts.weights[1][e] + experts.biases[1][e])
        torch.testing.assert_close(out[:, e], h)
    gates = Gates(5, 3, 2)(x)
    torch.testing.assert_close(gates.sum(-1), torch.ones(4, 2))
    mixed = mix(gates, out)
    torch.testing.assert_close(mixed[:, 1], (gates[:, 1].unsqueeze(-1) * out).sum(1))
