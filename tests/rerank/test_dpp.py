"""DPP greedy MAP: known answers, brute force on small sets, and the re-ranker's contract."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.dpp import DPPReranker, fast_greedy_map, quality


def random_kernel(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """A PSD kernel ``diag(q) S diag(q)`` with ``S`` the cosine of random feature vectors."""
    features = rng.normal(size=(n, dim))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    q = rng.uniform(0.2, 2.0, size=n)
    return np.outer(q, q) * (features @ features.T)


def log_det(kernel: np.ndarray, subset: list[int]) -> float:
    sign, value = np.linalg.slogdet(kernel[np.ix_(subset, subset)])
    return value if sign > 0 else -math.inf


def naive_greedy(kernel: np.ndarray, k: int, window: int | None = None) -> list[int]:
    """Greedy by explicit determinants: the definition the fast algorithm must reproduce."""
    picked: list[int] = []
    for _ in range(min(k, len(kernel))):
        context = picked if window is None else picked[max(0, len(picked) - (window - 1)) :]
        if window == 1:
            context = []
        gains = [
            -math.inf if i in picked else log_det(kernel, [*context, i]) for i in range(len(kernel))
        ]
        picked.append(int(np.argmax(gains)))
    return picked


def best_subset(kernel: np.ndarray, k: int) -> float:
    return max(log_det(kernel, list(s)) for s in itertools.combinations(range(len(kernel)), k))


@pytest.mark.parametrize("seed", range(40))
def test_fast_greedy_equals_the_greedy_by_determinants(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    kernel = random_kernel(rng, n, dim=n + 2)  # full rank: every pick has a positive gain
    k = int(rng.integers(1, n + 1))
    assert fast_greedy_map(kernel, k) == naive_greedy(kernel, k)


@pytest.mark.parametrize("seed", range(40))
def test_sliding_window_equals_the_windowed_greedy_by_determinants(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(4, 12))
    kernel = random_kernel(rng, n, dim=n + 2)
    window = int(rng.integers(1, 5))
    assert fast_greedy_map(kernel, n, window) == naive_greedy(kernel, n, window)


@pytest.mark.parametrize("seed", range(30))
def test_greedy_log_det_within_the_max_volume_bound_of_brute_force(seed):
    """Greedy volume >= best volume / k! (Civril and Magdon-Ismail 2009); det is volume^2.

    log-det is submodular but neither monotone nor non-negative, so the (1 - 1/e) bound of
    monotone submodular maximisation does not apply; this one does, for any PSD kernel.
    """
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.integers(2, 9))
    k = int(rng.integers(1, min(n, 3) + 1))
    kernel = random_kernel(rng, n, dim=int(rng.integers(k, n + 3)))
    greedy = log_det(kernel, fast_greedy_map(kernel, k))
    best = best_subset(kernel, k)
    assert greedy <= best + 1e-9
    assert greedy >= best - 2 * math.log(math.factorial(k)) - 1e-9
    if k == 1:  # one pick: the largest diagonal is the MAP
        assert greedy == pytest.approx(best)


@pytest.mark.parametrize("seed", range(10))
def test_orthogonal_items_reduce_to_quality_order_which_is_the_map(seed):
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.1, 3.0, size=8)
    kernel = np.diag(q**2)
    for k in (1, 2, 3):
        picks = fast_greedy_map(kernel, k)
        assert picks == list(np.argsort(-q)[:k])
        assert log_det(kernel, picks) == pytest.approx(best_subset(kernel, k))


def test_stops_when_the_rest_lies_in_the_span_of_the_picks():
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    kernel = features @ features.T
    assert fast_greedy_map(kernel, 4) == [0, 2]
    assert fast_greedy_map(kernel, 0) == []
    assert fast_greedy_map(np.zeros((0, 0)), 3) == []


def test_quality_is_the_papers_trade_off():
    scores = np.array([4.0, 2.0, 0.0])
    theta = 0.6
    alpha = theta / (2 * (1 - theta))
    assert quality(scores, theta) == pytest.approx(np.exp(alpha * np.array([1.0, 0.5, 0.0])))
    assert quality(scores, 0.0) == pytest.approx(np.ones(3))


def items() -> list[Item]:
    return [
        Item("a1", category="a", tags=("x",)),
        Item("a2", category="a", tags=("x",)),
        Item("a3", category="a", tags=("x",)),
        Item("b1", category="b", tags=("y",)),
        Item("c1", category="c", tags=("x",)),
    ]


def ranked(ids: list[str]) -> list[Candidate]:
    return [Candidate(i, float(len(ids) - k), "popular") for k, i in enumerate(ids)]


def test_reranker_spreads_categories_and_keeps_every_candidate():
    dpp = DPPReranker({"theta": 0.5, "top_k": 3}, entities=Entities.of(items=items()))
    out = dpp(Request("u"), Profile("u"), ranked(["a1", "a2", "a3", "b1", "c1"]))
    ids = [c.item_id for c in out]
    assert ids[:3] == ["a1", "b1", "c1"]
    assert ids[3:] == ["a2", "a3"]  # the rest in rank order
    assert [c.reasons for c in out] == [["rerank:dpp"]] * 3 + [[]] * 2
    assert [c.score for c in out] == [5.0, 2.0, 1.0, 4.0, 3.0]  # scores stay as ranked


def test_reranker_empty_single_and_unknown_items():
    dpp = DPPReranker({"theta": 0.5, "top_k": 3}, entities=Entities.of(items=items()))
    assert dpp(Request("u"), Profile("u"), []) == []
    assert [c.item_id for c in dpp(Request("u"), Profile("u"), ranked(["a1"]))] == ["a1"]
    # an unknown item is similar to nothing: it beats a better-ranked near-copy of a1
    out = dpp(Request("u"), Profile("u"), ranked(["a1", "a2", "ghost"]))
    assert [c.item_id for c in out] == ["a1", "ghost", "a2"]
    assert DPPReranker(entities=Entities()).kernel(ranked(["p", "q"]))[0, 1] == 0.0


def test_reranker_uses_given_embeddings():
    vectors = {"a1": [1.0, 0.0], "a2": [0.0, 1.0], "a3": [1.0, 0.01]}
    dpp = DPPReranker({"theta": 0.5, "top_k": 2}, embeddings=vectors)
    out = dpp(Request("u"), Profile("u"), ranked(["a1", "a3", "a2"]))
    assert [c.item_id for c in out] == ["a1", "a2", "a3"]


def test_sliding_window_lets_a_category_return_after_the_window():
    catalog = Entities.of(
        items=[Item(f"{c}{k}", category=c) for c in "ab" for k in range(3)]
        + [Item("c0", category="c")]
    )
    ids = ["a0", "a1", "a2", "b0", "b1", "b2", "c0"]
    plain = DPPReranker({"theta": 0.5, "top_k": 4, "reg": 0.1}, entities=catalog)
    windowed = DPPReranker({"theta": 0.5, "top_k": 4, "reg": 0.1, "window": 2}, entities=catalog)
    request, profile = Request("u"), Profile("u")
    assert [c.item_id for c in plain(request, profile, ranked(ids))][:3] == ["a0", "b0", "c0"]
    # window 2: each pick need only differ from the one before it
    assert [c.item_id for c in windowed(request, profile, ranked(ids))][:4] == [
        "a0",
        "b0",
        "a1",
        "b1",
    ]


def test_similarity_sees_items_published_after_its_first_request():
    """The cached feature table grows: an id unknown at first is read once the catalog has it."""
    entities = Entities.of(items=[Item("a", category="x"), Item("b", category="y")])
    dpp = DPPReranker({"theta": 0.5}, entities=entities)
    assert dpp.similarity.matrix(["a", "new"])[0, 1] == 0.0  # unknown: similar to nothing
    entities.items["new"] = Item("new", category="x", tags=("t",))
    sim = dpp.similarity.matrix(["b", "new", "a"])
    np.testing.assert_allclose(sim, [[1, 0, 0], [0, 1, 2**-0.5], [0, 2**-0.5, 1]])
