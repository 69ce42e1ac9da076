"""The fairness regulariser and the gap report: known answers, PAD/OOV, and a trained model."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
import torch
from torch import nn

from ecorec.features.schema import OOV, PAD, Field, FieldKind, Schema, TensorTable
from ecorec.features.vocab import Vocabulary
from ecorec.ranking.fairness import (
    FairnessConfig,
    FairnessRegulariser,
    fairness_report,
    group_gap,
)
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.training import TrainConfig, fit, predict

F, M = 2, 3  # vocabulary codes of the two groups (0 and 1 are PAD and OOV)
ITEMS = 12


def schema() -> Schema:
    return Schema(
        (
            Field("gender", FieldKind.SPARSE, 4, group="user"),
            Field("item_id", FieldKind.SPARSE, ITEMS, group="item"),
            Field("genres", FieldKind.MULTI, ITEMS, 2, group="item"),
        ),
        objectives=("click",),
    )


def reg(kind: Literal["dp", "eo"] = "dp", weight: float = 1.0) -> FairnessRegulariser:
    return FairnessRegulariser.bind(
        FairnessConfig(attribute="gender", kind=kind, weight=weight), schema()
    )


def test_dp_gap_and_its_gradient_are_the_known_answer() -> None:
    # F rows score sigmoid(0) = 0.5, M rows sigmoid(ln 3) = 0.75: gap 0.25; the PAD and OOV
    # rows score at the extremes and would dominate if they counted as groups
    logits = torch.tensor([0.0, 0.0, math.log(3), math.log(3), 9.0, -9.0], requires_grad=True)
    codes = torch.tensor([F, F, M, M, PAD, OOV])
    gap = reg().gap({"click": logits}, {"gender": codes}, {"click": torch.ones(6)})
    assert float(gap.detach()) == pytest.approx(0.25)
    gap.backward()  # type: ignore[no-untyped-call]
    # d gap / d logit = ±p(1-p) / group rows: M's (the high group) rise, F's fall, in descent
    # a step against it lowers M and raises F, i.e. pulls the two means together
    expected = [-0.25 / 2, -0.25 / 2, 0.1875 / 2, 0.1875 / 2, 0.0, 0.0]
    assert logits.grad is not None
    assert logits.grad.tolist() == pytest.approx(expected)
    with torch.no_grad():
        stepped = torch.sigmoid(logits - 1.0 * logits.grad)
    assert float(stepped[2] - stepped[0]) < 0.25


def test_eo_gap_sums_the_tpr_and_fpr_spreads() -> None:
    p = torch.tensor([0.9, 0.5, 0.6, 0.2, 0.1, 0.3])
    logits = torch.log(p / (1 - p))
    codes = torch.tensor([F, M, F, M, F, M])
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0, float("nan"), float("nan")])
    gap = reg("eo").gap({"click": logits}, {"gender": codes}, {"click": labels})
    # TPR spread |0.9 - 0.5| + FPR spread |0.6 - 0.2|; the NaN-labelled rows are in neither
    assert float(gap) == pytest.approx(0.4 + 0.4)
    dp = reg("dp").gap({"click": logits}, {"gender": codes}, {"click": labels})
    assert float(dp) == pytest.approx((0.9 + 0.6 + 0.1) / 3 - (0.5 + 0.2 + 0.3) / 3)


def test_fewer_than_two_groups_give_zero_and_a_finite_gradient() -> None:
    logits = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    every = torch.ones(3, dtype=torch.bool)
    for codes in ([F, F, F], [PAD, OOV, PAD], [F, PAD, OOV]):
        gap = group_gap(torch.sigmoid(logits), torch.tensor(codes), every, 4)
        assert float(gap.detach()) == 0.0
        (grad,) = torch.autograd.grad(gap, logits)
        assert torch.equal(grad, torch.zeros(3))
    regulariser = reg(weight=3.0)
    out = regulariser({"click": torch.tensor([0.0, 2.0])}, {"gender": torch.tensor([F, M])}, {})
    assert float(out) == pytest.approx(3.0 * (torch.sigmoid(torch.tensor(2.0)).item() - 0.5))


@pytest.mark.parametrize("attribute", ["nope", "genres"])
def test_an_attribute_that_is_not_a_sparse_field_is_a_clear_error(attribute: str) -> None:
    config = FairnessConfig(attribute=attribute, kind="dp", weight=1.0)
    with pytest.raises(ValueError, match=rf"{attribute!r} is not a sparse field.*gender, item_id"):
        FairnessRegulariser.bind(config, schema())
    with pytest.raises(ValueError, match="fairness objective 'buy' is not predicted"):
        FairnessRegulariser.bind(FairnessConfig(objective="buy"), schema())


def test_config_is_strict() -> None:
    with pytest.raises(ValueError):
        FairnessConfig.model_validate({"kind": "parity"})
    with pytest.raises(ValueError):
        FairnessConfig(weight=-1.0)
    with pytest.raises(ValueError):
        FairnessConfig.model_validate({"threshold": 0.5})
    nested = TrainConfig.model_validate({"fairness": {"kind": "eo", "weight": 2}})
    assert nested.fairness == FairnessConfig(attribute="gender", kind="eo", weight=2.0)


def test_report_rates_gaps_and_decoded_group_names() -> None:
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.4, 0.1, 0.99, 0.8])
    y = np.array([1, 0, 0, 1, 1, 0, 1, np.nan])
    codes = np.array([F, F, F, M, M, M, OOV, PAD])
    report = fairness_report(p, y, codes, Vocabulary(["F", "M"]))
    assert set(report["groups"]) == {"F", "M"}  # OOV and PAD rows are nobody's
    f, m = report["groups"]["F"], report["groups"]["M"]
    assert f == {
        "rows": 3,
        "label_rate": pytest.approx(1 / 3),
        "positive_rate": pytest.approx(2 / 3),
        "mean_score": pytest.approx(0.5666667, abs=1e-6),
        "tpr": 1.0,
        "fpr": 0.5,
    }
    assert (m["positive_rate"], m["tpr"], m["fpr"]) == (pytest.approx(1 / 3), 0.5, 0.0)
    assert report["gap_dp"] == pytest.approx(1 / 3, abs=1e-6)
    assert report["gap_dp_score"] == pytest.approx(0.5666667 - 0.4, abs=1e-6)
    assert (report["gap_tpr"], report["gap_fpr"], report["gap_eo"]) == (0.5, 0.5, 0.5)
    unnamed = fairness_report(p, y, codes)
    assert set(unnamed["groups"]) == {"2", "3"}
    alone = fairness_report(p[:3], y[:3], codes[:3])
    assert alone["gap_dp"] is None and alone["gap_eo"] is None


class TinyLR(RankingModel):
    """One scalar per (field value) plus a bias: enough to learn a group's base rate."""

    name = "tiny_lr"

    def __init__(self, schema: Schema, config: ModelConfig | None = None) -> None:
        super().__init__(schema, config)
        self.tables = nn.ModuleDict(
            {f.name: nn.Embedding(f.vocab_size, 1) for f in schema.of_kind(FieldKind.SPARSE)}
        )
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.bias + sum(t(batch[k]) for k, t in self.tables.items())
        return {"click": logits[:, 0]}


def biased_table(rows: int, seed: int) -> TensorTable:
    """Label rate 0.8 for M, 0.3 for F, shifted by a per-item effect the model should keep."""
    rng = np.random.default_rng(seed)
    gender = rng.choice([F, M], rows)
    item = rng.integers(2, ITEMS, rows)
    effect = np.linspace(-0.2, 0.2, ITEMS)[item]
    rate = np.where(gender == M, 0.8, 0.3) + effect
    y = (rng.random(rows) < rate).astype(np.float32)
    genres = np.zeros((rows, 2), dtype=np.int64)
    return TensorTable(
        {
            "gender": torch.from_numpy(gender),
            "item_id": torch.from_numpy(item),
            "genres": torch.from_numpy(genres),
        },
        {"click": torch.from_numpy(y)},
        np.arange(rows) % 4,
    )


def test_a_heavy_dp_regulariser_shrinks_the_gap_a_plain_model_learns() -> None:
    train, valid, test = biased_table(3000, 1), biased_table(600, 2), biased_table(2000, 3)
    gaps, reports = {}, {}
    for weight in (0.0, 5.0):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = TinyLR(schema())
        fairness = FairnessConfig(attribute="gender", kind="dp", weight=weight)
        config = TrainConfig(
            epochs=4, patience=4, batch_size=128, learning_rate=0.05, fairness=fairness
        )
        fit(net, train, valid, config)
        p = predict(net, test)["click"]
        report = fairness_report(p, test.labels["click"].numpy(), test.features["gender"].numpy())
        gaps[weight], reports[weight] = report["gap_dp_score"], report
    # without it the model learns the 0.5 base-rate gap; with it the groups' means meet
    assert gaps[0.0] > 0.35
    assert gaps[5.0] < 0.1
    assert reports[5.0]["gap_dp"] < reports[0.0]["gap_dp"]


def test_a_bad_attribute_fails_before_training() -> None:
    config = TrainConfig(epochs=1, fairness=FairnessConfig(attribute="age"))
    with pytest.raises(ValueError, match="'age' is not a sparse field"):
        fit(TinyLR(schema()), biased_table(200, 1), biased_table(100, 2), config)
