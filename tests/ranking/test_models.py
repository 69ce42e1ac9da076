"""Every ranking model: contract (keys, shapes, OOV, padding, seeding) and a learned rule."""

from __future__ import annotations

import pytest
import torch

from ecorec.features.schema import Field, FieldKind, Schema
from ecorec.metrics.ctr import auc
from ecorec.ranking.models import MODELS, build_model
from ecorec.ranking.models.esmm import ctcvr_logit

GROUPS, ITEMS, HISTORY = 4, 40, 8


def make_schema(objectives: tuple[str, ...] = ("click",)) -> Schema:
    return Schema(
        (
            Field("user_group", FieldKind.SPARSE, GROUPS + 2, group="user"),
            Field("item_id", FieldKind.SPARSE, ITEMS + 2, group="item"),
            Field("item_group", FieldKind.SPARSE, GROUPS + 2, group="item"),
            Field("noise", FieldKind.SPARSE, 12, group="context"),
            Field("genres", FieldKind.MULTI, 7, max_len=3, group="item"),
            Field("history", FieldKind.SEQUENCE, max_len=HISTORY, embed="item_id"),
            Field("age", FieldKind.DENSE, group="user"),
        ),
        objectives=objectives,
        sequence="history",
    )


def make_data(n: int, rule: str, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Rows whose label is ``rule``: ``group`` (user_group == item_group) or ``history``
    (the candidate item is among the user's earlier items)."""
    g = torch.Generator().manual_seed(seed)
    user_group = torch.randint(2, GROUPS + 2, (n,), generator=g)
    item_group = torch.randint(2, GROUPS + 2, (n,), generator=g)
    items = torch.argsort(torch.rand(n, ITEMS, generator=g), 1)[:, : HISTORY + 1] + 2
    lengths = torch.randint(1, HISTORY + 1, (n,), generator=g)
    history = items[:, 1:].clone()
    history[torch.arange(HISTORY)[None] >= lengths[:, None]] = 0
    seen = torch.rand(n, generator=g) < 0.5
    picked = history[torch.arange(n), torch.randint(0, HISTORY, (n,), generator=g) % lengths]
    target = torch.where(seen, picked, items[:, 0])
    genres = torch.randint(0, 7, (n, 3), generator=g)
    batch = {
        "user_group": user_group,
        "item_id": target,
        "item_group": item_group,
        "noise": torch.randint(1, 12, (n,), generator=g),
        "genres": torch.sort(genres, 1, descending=True).values,
        "history": history,
        "age": torch.rand(n, generator=g),
    }
    label = (user_group == item_group) if rule == "group" else seen
    return batch, label.float()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = {"embedding_dim": 16, "mlp": (64, 32)}


def fit_auc(name: str, rule: str, epochs: int = 12, seed: int = 0) -> float:
    """Train ``name`` with a plain Adam loop on ``rule`` data; test AUC of the click logit."""
    torch.manual_seed(seed)  # DIEN samples its auxiliary negatives from the global generator
    schema = make_schema()
    model = build_model(name, schema, {**SMALL, "seed": seed})
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    train, labels = make_data(4000, rule, seed=1)
    g = torch.Generator().manual_seed(2)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=g)
        for start in range(0, len(order), 256):
            rows = order[start : start + 256]
            logits = model({k: v[rows] for k, v in train.items()})["click"]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[rows])
            extra = model.auxiliary_loss()
            if extra is not None:
                loss = loss + extra
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    test, test_labels = make_data(2000, rule, seed=3)
    model.eval()
    with torch.no_grad():
        scores = model(test)["click"].numpy()
    return auc(test_labels.numpy(), scores)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_learns_the_interaction_of_two_sparse_fields(name):
    assert fit_auc(name, "group") > 0.9


@pytest.mark.parametrize("name", ["din", "dien"])
def test_learns_whether_the_candidate_is_in_the_history(name):
    assert fit_auc(name, "history") > 0.9


OBJECTIVES = ("click", "convert", "like")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_outputs_one_finite_logit_per_objective(name):
    model = build_model(name, make_schema(OBJECTIVES), SMALL)
    batch, _ = make_data(5, "group", seed=4)
    out = model(batch)
    assert tuple(out) == OBJECTIVES
    for logit in out.values():
        assert logit.shape == (5,) and torch.isfinite(logit).all()
    single = build_model(name, make_schema(), SMALL)(batch)
    assert list(single) == ["click"] and single["click"].shape == (5,)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unseen_ids_and_empty_histories_score_finitely(name):
    model = build_model(name, make_schema(OBJECTIVES), SMALL)
    batch, _ = make_data(4, "group", seed=5)
    for key in ("user_group", "item_id", "item_group", "noise"):
        batch[key] = torch.ones_like(batch[key])  # OOV
    batch["genres"] = torch.zeros_like(batch["genres"])
    batch["history"] = torch.zeros_like(batch["history"])  # all PAD
    model.train()
    out = model(batch)
    loss = sum(logit.sum() for logit in out.values())
    extra = model.auxiliary_loss()
    if extra is not None:
        loss = loss + extra
    loss.backward()
    assert all(torch.isfinite(logit).all() for logit in out.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_same_weights(name):
    first = build_model(name, make_schema(), {**SMALL, "seed": 7}).state_dict()
    again = build_model(name, make_schema(), {**SMALL, "seed": 7}).state_dict()
    other = build_model(name, make_schema(), {**SMALL, "seed": 8}).state_dict()
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def _padded(batch: dict[str, torch.Tensor], extra: int) -> dict[str, torch.Tensor]:
    wider = dict(batch)
    wider["history"] = torch.cat(
        [batch["history"], torch.zeros(len(batch["history"]), extra, dtype=torch.long)], 1
    )
    return wider


@pytest.mark.parametrize("name", ["din", "dien"])
def test_appended_padding_changes_nothing(name):
    model = build_model(name, make_schema(), SMALL).eval()
    batch, _ = make_data(6, "history", seed=6)
    with torch.no_grad():
        torch.testing.assert_close(model(_padded(batch, 5))["click"], model(batch)["click"])
        # a row's logit depends on its own history only, not on how long the others' are
        torch.testing.assert_close(
            model({k: v[:1] for k, v in batch.items()})["click"], model(batch)["click"][:1]
        )
    if name == "din":
        torch.testing.assert_close(model.interest(_padded(batch, 5)), model.interest(batch))


def test_din_interest_is_zero_without_history_and_follows_the_candidate():
    model = build_model("din", make_schema(), SMALL).eval()
    batch, _ = make_data(4, "history", seed=7)
    empty = {**batch, "history": torch.zeros_like(batch["history"])}
    assert torch.all(model.interest(empty) == 0)
    other = {**batch, "item_id": (batch["item_id"] - 2 + 1) % ITEMS + 2}
    assert not torch.allclose(model.interest(other), model.interest(batch))


@pytest.mark.parametrize("name", ["din", "dien"])
def test_without_a_sequence_field_the_model_is_the_deep_model(name):
    schema = Schema(make_schema().fields[:5], sequence=None)  # no history, no dense
    model = build_model(name, schema, SMALL)
    batch, _ = make_data(3, "group", seed=8)
    assert model(batch)["click"].shape == (3,)
    assert model.auxiliary_loss() is None


def test_dien_auxiliary_loss_is_positive_in_training_only():
    model = build_model("dien", make_schema(), SMALL)
    batch, _ = make_data(16, "history", seed=9)
    model.train()
    model(batch)
    extra = model.auxiliary_loss()
    assert extra is not None and torch.isfinite(extra) and extra.item() > 0
    extra.backward()
    assert model.extractor.gru.weight_hh_l0.grad.abs().sum() > 0  # it trains the extractor
    model.eval()
    model(batch)
    assert model.auxiliary_loss() is None


def test_esmm_convert_is_ctr_times_cvr():
    model = build_model("esmm", make_schema(("click", "convert")), SMALL)
    batch, _ = make_data(64, "group", seed=10)
    with torch.no_grad():
        towers = model.tower_logits(batch)
        out = model(batch)
    product = torch.sigmoid(towers["click"]) * torch.sigmoid(towers["convert"])
    torch.testing.assert_close(torch.sigmoid(out["convert"]), product, atol=1e-6, rtol=0)
    torch.testing.assert_close(out["click"], towers["click"])


def test_ctcvr_logit_is_stable_and_equals_the_log_space_formula():
    a = torch.tensor([-30.0, -2.0, 0.0, 3.0, 15.0, 200.0], dtype=torch.float64)
    b = torch.tensor([4.0, 1.0, 0.0, -5.0, 15.0, 200.0], dtype=torch.float64)
    log_p = torch.nn.functional.logsigmoid(a) + torch.nn.functional.logsigmoid(b)
    reference = log_p - torch.log(-torch.expm1(log_p))
    got = ctcvr_logit(a, b)
    torch.testing.assert_close(got[:-1], reference[:-1])  # the reference overflows at 200
    assert torch.isfinite(ctcvr_logit(a.float(), b.float())).all()
    assert got[-1] > 190  # both sure: pCTCVR ~ 1


def test_esmm_with_click_only_is_the_ctr_tower_and_convert_needs_click():
    model = build_model("esmm", make_schema(), SMALL)
    assert list(model.towers) == ["click"]
    with pytest.raises(ValueError, match="click"):
        build_model("esmm", make_schema(("convert",)), SMALL)


def test_mmoe_gates_are_distributions_over_the_experts():
    model = build_model("mmoe", make_schema(OBJECTIVES), {**SMALL, "experts": 3})
    batch, _ = make_data(10, "group", seed=11)
    gates = model.gate_weights(batch)
    assert gates.shape == (10, 3, 3)
    assert torch.all(gates >= 0)
    torch.testing.assert_close(gates.sum(-1), torch.ones(10, 3))


def test_multi_objective_heads_differ_per_objective():
    batch, _ = make_data(8, "group", seed=12)
    for name in sorted(MODELS):
        out = build_model(name, make_schema(("click", "like")), SMALL)(batch)
        assert not torch.allclose(out["click"], out["like"]), name
