"""DIN's serving fast path (one history shared by every candidate) is the same function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from ecorec.ranking.models import build_model
from ecorec.ranking.models.din import DIN
from ecorec.ranking.modules import TargetAttention
from tests.ranking.test_models import SMALL, make_data, make_schema


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _request(n: int, seed: int) -> dict[str, torch.Tensor]:
    """``n`` candidates of one user: every row carries row 0's user fields and history."""
    batch, _ = make_data(n, "history", seed=seed)
    for name in ("user_group", "history", "age"):
        batch[name] = batch[name][:1].expand_as(batch[name]).contiguous()
    return batch


@pytest.mark.parametrize("real", [5, 2, 0])
@pytest.mark.parametrize("grad", [False, True])
def test_shared_keys_score_like_one_copy_per_row(real: int, grad: bool) -> None:
    torch.manual_seed(3)
    attention = TargetAttention(4, (6, 5))
    # more rows than one inference block, so the blocked loop is covered
    query, keys = torch.randn(150, 4), torch.randn(1, 5, 4)
    mask = (torch.arange(5) < real).unsqueeze(0)
    keys = torch.where(mask.unsqueeze(-1), keys, torch.randn(1, 5, 4) * 100)  # noisy padding
    copies, copy_mask = keys.expand(150, 5, 4), mask.expand(150, 5)
    with torch.set_grad_enabled(grad):
        shared = attention(query, keys, mask)
        torch.testing.assert_close(shared, attention(query, copies, copy_mask))
        weights = attention.weights(query, keys, mask)
        torch.testing.assert_close(weights, attention.weights(query, copies, copy_mask))
    assert torch.all(weights[:, ~mask[0]] == 0)
    if real == 0:
        assert torch.all(shared == 0)


def test_shared_path_gives_the_same_gradients() -> None:
    torch.manual_seed(4)
    attention = TargetAttention(4)
    query, keys = torch.randn(7, 4), torch.randn(1, 3, 4)
    mask = torch.ones(1, 3, dtype=torch.bool)
    grads = []
    for k, m in ((keys, mask), (keys.expand(7, 3, 4), mask.expand(7, 3))):
        attention.zero_grad()
        attention(query, k, m).square().sum().backward()
        grads.append([torch.clone(p.grad) for p in attention.parameters() if p.grad is not None])
    for fast, slow in zip(*grads, strict=True):
        torch.testing.assert_close(fast, slow)


def _din() -> DIN:
    model = build_model("din", make_schema(), SMALL).eval()
    assert isinstance(model, DIN)
    return model


def test_embedding_returns_a_shared_history_once_and_others_per_row() -> None:
    model = _din()
    request = _request(6, seed=8)
    shared = model.embedding(request, share_history=True)
    per_row = model.embedding(request)
    assert shared.sequence is not None and per_row.sequence is not None
    assert shared.sequence.shape[0] == 1 and per_row.sequence.shape[0] == 6
    torch.testing.assert_close(shared.sequence.expand_as(per_row.sequence), per_row.sequence)
    torch.testing.assert_close(shared.fields, per_row.fields)
    assert shared.mask is not None and per_row.mask is not None
    assert torch.equal(shared.mask.expand_as(per_row.mask), per_row.mask)
    mixed, _ = make_data(6, "history", seed=8)  # different histories: one per row still
    seq = model.embedding(mixed, share_history=True).sequence
    assert seq is not None and seq.shape[0] == 6


@pytest.mark.parametrize("grad", [False, True])
def test_din_scores_a_request_like_each_candidate_alone(grad: bool) -> None:
    model = _din()
    request = _request(70, seed=9)
    with torch.set_grad_enabled(grad):
        together = model(request)["click"]
        alone = torch.cat(
            [model({k: v[i : i + 1] for k, v in request.items()})["click"] for i in range(70)]
        )
    torch.testing.assert_close(together, alone)


@pytest.mark.parametrize("name", ["deepfm", "wide_deep", "mmoe", "esmm"])
def test_a_shared_behaviour_bag_is_pooled_once_with_the_same_scores(name: str) -> None:
    """Models that pool the history as a bag score a request like each candidate alone."""
    model = build_model(name, make_schema(("click", "like")), SMALL).eval()
    request = _request(40, seed=10)
    assert model.embedding._shared_bags(request, 40) == ("history",)
    with torch.inference_mode():
        together = model(request)
        alone = [model({k: v[i : i + 1] for k, v in request.items()}) for i in range(40)]
    for objective, scores in together.items():
        torch.testing.assert_close(scores, torch.cat([a[objective] for a in alone]))
    mixed, _ = make_data(6, "history", seed=8)  # different histories: pooled per row
    assert model.embedding._shared_bags(mixed, 6) == ()


def test_deepfm_multiplies_a_requests_shared_fields_once_with_the_same_scores() -> None:
    """Expanded user fields (as the encoder serves them) score like each candidate alone."""
    model = build_model("deepfm", make_schema(("click", "like")), SMALL).eval()
    request = _request(40, seed=11)
    served = {**request, "user_group": request["user_group"][:1].expand(40)}
    with torch.inference_mode():
        embedded = model.embedding(served)
        together = model(served)
        alone = [model({k: v[i : i + 1] for k, v in request.items()}) for i in range(40)]
    names = model.embedding.names
    assert {names[k] for k in embedded.shared} == {"user_group", "history"}
    for objective, scores in together.items():
        torch.testing.assert_close(scores, torch.cat([a[objective] for a in alone]))
