"""MMR: relevance order at lambda 1, known picks, and the re-ranker's contract."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.mmr import MMRReranker, mmr_order

CATEGORIES = ["a", "b", "c", None]


def catalog(categories: list[str | None]) -> Entities:
    return Entities.of(items=[Item(f"i{k}", category=c) for k, c in enumerate(categories)])


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 5).map(float), min_size=0, max_size=30),
    data=st.data(),
)
def test_lambda_one_returns_relevance_order_exactly(scores, data):
    categories = data.draw(
        st.lists(st.sampled_from(CATEGORIES), min_size=len(scores), max_size=len(scores))
    )
    ranked = [Candidate(f"i{k}", s, "popular") for k, s in enumerate(scores)]
    mmr = MMRReranker({"lambda_": 1.0, "top_k": 50}, entities=catalog(categories))
    out = mmr(Request("u"), Profile("u"), list(ranked))
    expected = sorted(ranked, key=lambda c: -c.score)  # stable: ties keep their ranked order
    assert [c.item_id for c in out] == [c.item_id for c in expected]


@settings(max_examples=60, deadline=None)
@given(
    categories=st.lists(st.sampled_from(CATEGORIES), min_size=0, max_size=30),
    lambda_=st.floats(0.0, 1.0),
    top_k=st.integers(1, 40),
)
def test_output_is_a_permutation_with_reasons_on_the_picks(categories, lambda_, top_k):
    ranked = [Candidate(f"i{k}", float(-k), "popular") for k in range(len(categories))]
    mmr = MMRReranker({"lambda_": lambda_, "top_k": top_k}, entities=catalog(categories))
    out = mmr(Request("u"), Profile("u"), list(ranked))
    assert sorted(c.item_id for c in out) == sorted(c.item_id for c in ranked)
    if len(out) > 1:
        picked = min(top_k, len(out))
        assert all(c.reasons == ["rerank:mmr"] for c in out[:picked])
        rest = [c.item_id for c in out[picked:]]
        assert rest == [c.item_id for c in ranked if c.item_id in set(rest)]


def test_known_picks_trade_relevance_for_novelty():
    rel = np.array([1.0, 0.9, 0.5])
    sim = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # lambda 0.5: i1 scores 0.45 - 0.45 = 0 < i2's 0.25 - 0 = 0.25
    assert mmr_order(rel, sim, 0.5, 3) == [0, 2, 1]
    # lambda 0.9: i1 scores 0.81 - 0.09 = 0.72 > i2's 0.45
    assert mmr_order(rel, sim, 0.9, 3) == [0, 1, 2]
    assert mmr_order(rel, sim, 0.5, 0) == []


def test_empty_and_unknown_items():
    mmr = MMRReranker({"lambda_": 0.3}, entities=catalog(["a", "a"]))
    assert mmr(Request("u"), Profile("u"), []) == []
    ranked = [Candidate(i, s, "popular") for i, s in [("i0", 3.0), ("i1", 2.9), ("ghost", 0.0)]]
    out = mmr(Request("u"), Profile("u"), ranked)
    # the unknown item is similar to nothing, so it beats a near-copy of the first
    assert [c.item_id for c in out] == ["i0", "ghost", "i1"]
