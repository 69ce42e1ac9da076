"""The ranking trainer: loss weights, NaN labels, early stopping, checkpoints and resume.

The models here are a tiny logistic regression over per-field embedding tables (one column per
objective), so these tests prove the loop, not any real model.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ecorec.features.schema import Field, FieldKind, Schema, TensorTable
from ecorec.ranking import checkpoints
from ecorec.ranking.checkpoints import checkpoint_path, load_checkpoint
from ecorec.ranking.models.base import ModelConfig, RankingModel
from ecorec.ranking.training import (
    TrainConfig,
    TrainingDivergedError,
    evaluate,
    fit,
    objective_loss,
    predict,
    resolve_device,
)

VOCAB = 40


class TinyLR(RankingModel):
    """Sum of one scalar per (field value, objective) plus a bias; optional dropout."""

    name = "tiny_lr"

    def __init__(self, schema: Schema, config: ModelConfig | None = None) -> None:
        super().__init__(schema, config)
        n = len(schema.objectives)
        self.tables = nn.ModuleDict({f.name: nn.Embedding(f.vocab_size, n) for f in schema.fields})
        self.bias = nn.Parameter(torch.zeros(n))
        self.dropout = nn.Dropout(self.config.dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.bias + sum(self.dropout(t(batch[k])) for k, t in self.tables.items())
        return {o: logits[:, i] for i, o in enumerate(self.schema.objectives)}


class NaNAt(TinyLR):
    """Returns NaN logits on its ``at``-th training forward pass."""

    def __init__(self, schema: Schema, at: int) -> None:
        super().__init__(schema)
        self.at, self.calls = at, 0

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = super().forward(batch)
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return {o: v * float("nan") for o, v in out.items()}
        return out


def schema(objectives: tuple[str, ...] = ("click",)) -> Schema:
    fields = tuple(Field(n, FieldKind.SPARSE, vocab_size=VOCAB, group="user") for n in "ab")
    return Schema(fields, objectives=objectives, target="a")


def model(objectives: tuple[str, ...] = ("click",), dropout: float = 0.0) -> TinyLR:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TinyLR(schema(objectives), ModelConfig(dropout=dropout))


def rule_table(rows: int, seed: int, flip: bool = False, noise: float = 0.0) -> TensorTable:
    """Label 1 iff w[a] + w[b] > 0 for fixed random w: a rule a logistic regression can learn."""
    w = np.random.default_rng(99).normal(size=VOCAB)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(2, VOCAB, rows), rng.integers(2, VOCAB, rows)
    y = (w[a] + w[b] > 0).astype(np.float32)
    if flip:
        y = 1.0 - y
    flips = rng.random(rows) < noise
    y[flips] = 1.0 - y[flips]
    return TensorTable(
        {"a": torch.from_numpy(a), "b": torch.from_numpy(b)},
        {"click": torch.from_numpy(y)},
        np.arange(rows) % 4,  # few users: GAUC (per-user sklearn calls) stays cheap
    )


FAST = {"batch_size": 128, "learning_rate": 0.05}


def same_weights(x: nn.Module, y: nn.Module) -> bool:
    sx, sy = x.state_dict(), y.state_dict()
    return sx.keys() == sy.keys() and all(torch.equal(sx[k], sy[k]) for k in sx)


def without_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_learns_a_known_rule_and_reports_speed() -> None:
    net, calls = model(), []
    config = TrainConfig(epochs=4, patience=4, **FAST)
    result = fit(
        net, rule_table(3000, 1), rule_table(500, 2), config, progress=lambda *a: calls.append(a)
    )
    test = evaluate(net, rule_table(1000, 3))
    assert test["click"]["auc"] > 0.9
    assert result.samples_per_s > 0
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.best_valid == result.history[result.best_epoch - 1]["valid"]
    per_epoch = math.ceil(3000 / 128)
    assert calls[0] == (1, 4 * per_epoch) and calls[-1] == (4 * per_epoch, 4 * per_epoch)
    probabilities = predict(net, rule_table(10, 3))["click"]
    assert probabilities.shape == (10,) and ((probabilities > 0) & (probabilities < 1)).all()


def test_early_stopping_restores_the_best_epoch() -> None:
    # validation labels contradict the training rule: every epoch of learning lowers the
    # valid AUC, so epoch 1 is best and the run stops after `patience` more
    config = TrainConfig(epochs=10, patience=2, **FAST)
    train, valid = rule_table(2000, 1), rule_table(500, 2, flip=True)
    net = model()
    result = fit(net, train, valid, config)
    assert result.stopped_early and result.best_epoch == 1
    assert len(result.history) == config.patience + 1
    one_epoch = model()
    fit(one_epoch, train, valid, config.model_copy(update={"epochs": 1}))
    assert same_weights(net, one_epoch)
    assert evaluate(net, valid)["click"] == result.best_valid["click"]


def test_noisy_validation_stops_patience_epochs_after_its_best() -> None:
    config = TrainConfig(epochs=30, patience=2, **FAST)
    train = rule_table(2000, 1)
    valid = rule_table(300, 2, noise=0.5)  # labels unrelated to the features
    result = fit(model(), train, valid, config)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + config.patience
    aucs = [h["valid"]["click"]["auc"] for h in result.history]
    assert max(aucs) == aucs[result.best_epoch - 1]


def test_resume_ends_on_the_weights_of_an_uninterrupted_run(tmp_path: Path) -> None:
    config = TrainConfig(epochs=3, patience=5, **FAST)
    train, valid = rule_table(1500, 1, noise=0.1), rule_table(400, 2)
    before = torch.get_rng_state()
    whole = model(dropout=0.3)  # dropout draws: resume must replay them too
    whole_result = fit(whole, train, valid, config, checkpoint_dir=tmp_path / "whole")
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is untouched

    crashed = tmp_path / "crashed"
    fit(model(dropout=0.3), train, valid, config.model_copy(update={"epochs": 2}), crashed)
    assert load_checkpoint(crashed).epoch == 2
    resumed = model(dropout=0.3)
    result = fit(resumed, train, valid, config, checkpoint_dir=crashed, resume=True)
    assert same_weights(resumed, whole)
    assert without_seconds(result.history) == without_seconds(whole_result.history)
    assert result.best_epoch == whole_result.best_epoch
    saved = torch.load(checkpoint_path(crashed), weights_only=True)
    assert saved["epoch"] == 3 and not list(crashed.glob("*.tmp"))

    # resuming a finished run trains no more and ends on the same best weights
    again = model(dropout=0.3)
    result = fit(again, train, valid, config, checkpoint_dir=crashed, resume=True)
    assert same_weights(again, whole) and len(result.history) == 3


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(model(), rule_table(100, 1), rule_table(100, 2), TrainConfig(), tmp_path, resume=True)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    config = TrainConfig(epochs=1, **FAST)
    fit(model(), rule_table(300, 1), rule_table(200, 2), config, checkpoint_dir=tmp_path)
    good = load_checkpoint(tmp_path)

    def crash(obj, fh) -> None:
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        fit(model(), rule_table(300, 1), rule_table(200, 2), config, checkpoint_dir=tmp_path)
    kept = load_checkpoint(tmp_path)
    assert kept.history == good.history and sorted(p.name for p in tmp_path.iterdir()) == [
        "last.pt"
    ]


def test_nan_loss_names_epoch_batch_and_last_checkpoint(tmp_path: Path) -> None:
    train, valid = rule_table(1000, 1), rule_table(200, 2)  # 8 batches of 128 per epoch
    config = TrainConfig(epochs=3, patience=5, **FAST)
    net = NaNAt(schema(), at=8 + 3)
    with pytest.raises(TrainingDivergedError) as info:
        fit(net, train, valid, config, checkpoint_dir=tmp_path)
    message = str(info.value)
    assert "epoch 2, batch 3" in message and str(checkpoint_path(tmp_path)) in message
    assert "lower learning rate" in message
    assert (info.value.epoch, info.value.batch) == (2, 3)
    assert load_checkpoint(tmp_path).epoch == 1

    with pytest.raises(TrainingDivergedError, match=re.escape("epoch 1, batch 2")) as info:
        fit(NaNAt(schema(), at=2), train, valid, config)
    assert "no checkpoint was saved" in str(info.value)


def bce(logit: float, label: float) -> float:
    return math.log1p(math.exp(logit)) - label * logit


def test_objective_and_group_weights_follow_the_formula() -> None:
    outputs = {
        "click": torch.tensor([0.5, -1.0]),
        "like": torch.tensor([2.0, 0.0]),
        "negative": torch.tensor([1.0, 1.0]),
        "convert": torch.tensor([-0.5, 3.0]),
        "dwell": torch.tensor([0.0, 0.0]),  # not in OBJECTIVE_GROUPS: counts as user
    }
    labels = {
        "click": torch.tensor([1.0, 0.0]),
        "like": torch.tensor([0.0, 1.0]),
        "negative": torch.tensor([0.0, 0.0]),
        "convert": torch.tensor([1.0, float("nan")]),  # known after a click only
        "dwell": torch.tensor([1.0, 1.0]),
    }
    mean = {
        o: np.mean(
            [
                bce(x, y)
                for x, y in zip(outputs[o].tolist(), labels[o].tolist(), strict=True)
                if y == y
            ]
        )
        for o in outputs
    }
    config = TrainConfig(
        objective_weights={"click": 0.5, "dwell": 2.0},
        group_weights={"user": 2.0, "eco": 3.0, "biz": 0.25},
    )
    expected = (
        2.0 * (0.5 * mean["click"] + mean["like"] + 2.0 * mean["dwell"])
        + 3.0 * mean["negative"]
        + 0.25 * bce(-0.5, 1.0)
    )
    assert objective_loss(outputs, labels, config).item() == pytest.approx(expected, rel=1e-6)
    unweighted = sum(mean.values())
    assert objective_loss(outputs, labels, TrainConfig()).item() == pytest.approx(unweighted)


def test_nan_labels_are_ignored() -> None:
    logits = torch.tensor([1.0, -2.0, 0.3], requires_grad=True)
    labels = torch.tensor([1.0, float("nan"), 0.0])
    loss = objective_loss({"click": logits}, {"click": labels}, TrainConfig())
    assert loss.item() == pytest.approx((bce(1.0, 1.0) + bce(0.3, 0.0)) / 2)
    loss.backward()
    assert logits.grad is not None and logits.grad[1] == 0

    # an objective unknown for the whole batch adds 0 and keeps the gradient finite
    convert = torch.tensor([0.2, 0.4], requires_grad=True)
    out = {"click": torch.tensor([0.0, 0.0]), "convert": convert}
    lab = {"click": torch.tensor([1.0, 0.0]), "convert": torch.full((2,), float("nan"))}
    total = objective_loss(out, lab, TrainConfig())
    assert total.item() == pytest.approx(math.log(2))
    total.backward()
    assert torch.equal(convert.grad, torch.zeros(2))


def test_training_with_unknown_labels_learns_from_the_known_rows() -> None:
    train = rule_table(3000, 1)
    hidden = torch.from_numpy(np.random.default_rng(5).random(3000) < 0.4)
    train.labels["convert"] = train.labels["click"].masked_fill(hidden, float("nan"))
    valid = rule_table(500, 2)
    valid.labels["convert"] = valid.labels["click"].clone()
    net = model(("click", "convert"))
    result = fit(net, train, valid, TrainConfig(epochs=3, **FAST))
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    assert result.best_valid["convert"]["auc"] > 0.9


def test_bad_inputs_are_clear_errors(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cuda: no CUDA device here; use cpu"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="one class"):
        one_class = rule_table(100, 2)
        one_class.labels["click"].fill_(1.0)
        fit(model(), rule_table(100, 1), one_class, TrainConfig())
    with pytest.raises(ValueError, match="unknown loss groups"):
        TrainConfig(group_weights={"usr": 1.0})
    with pytest.raises(ValueError):
        TrainConfig(objective_weights={"click": -1.0})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_cpu_and_resumes(tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, patience=5, **FAST)
    train, valid = rule_table(2000, 1), rule_table(400, 2)
    on_cpu = model(dropout=0.0)
    fit(on_cpu, train, valid, config)
    cuda = config.model_copy(update={"device": "cuda"})
    on_gpu = model()
    fit(on_gpu, train, valid, cuda)
    fit(model(), train, valid, cuda.model_copy(update={"epochs": 1}), checkpoint_dir=tmp_path)
    resumed = model()
    fit(resumed, train, valid, cuda, checkpoint_dir=tmp_path, resume=True)
    # CUDA's embedding backward adds with atomics: equal up to float rounding, not bitwise
    for k, v in on_cpu.state_dict().items():
        torch.testing.assert_close(on_gpu.state_dict()[k].cpu(), v, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(resumed.state_dict()[k].cpu(), v, rtol=1e-4, atol=1e-5)


def test_monitor_picks_which_objective_early_stopping_watches() -> None:
    # "click" keeps improving on valid; "like" is contradicted by valid, so watching it stops
    # after epoch 1 while watching the primary runs every epoch
    def table(seed: int, flip_like: bool) -> TensorTable:
        base, flipped = rule_table(2000, seed), rule_table(2000, seed, flip=flip_like)
        labels = {"click": base.labels["click"], "like": flipped.labels["click"]}
        return TensorTable(base.features, labels, base.users)

    train, valid = table(1, False), table(2, True)
    config = TrainConfig(epochs=5, patience=2, **FAST)
    watched = fit(
        model(("click", "like")), train, valid, config.model_copy(update={"monitor": "like"})
    )
    assert watched.stopped_early and watched.best_epoch == 1
    primary = fit(model(("click", "like")), train, valid, config)
    assert not primary.stopped_early and primary.best_epoch > 1
    with pytest.raises(ValueError, match="monitor 'convert'"):
        fit(model(), train, valid, config.model_copy(update={"monitor": "convert"}))
