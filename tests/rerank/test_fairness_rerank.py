"""Exposure fairness: the ratio on constructed cases, groups, and what stays untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, CreatorStage, Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.fairness import ExposureFairness, exposure_ratio, group_rates


def biased(quality_novice: float = 0.5) -> tuple[Entities, list[Candidate]]:
    """Ten head and ten novice items of equal quality; the ranker scores heads 20 points up."""
    items = [Item(f"h{k}", "head", quality=0.5) for k in range(10)]
    items += [Item(f"n{k}", "nov", quality=quality_novice) for k in range(10)]
    creators = [
        Creator("head", CreatorStage.HEAD, attrs={"region": "north"}),
        Creator("nov", CreatorStage.NOVICE, attrs={"region": "south"}),
    ]
    ranked = [Candidate(f"h{k}", 100.0 - k, "popular") for k in range(10)]
    ranked += [Candidate(f"n{k}", 80.0 - k, "popular") for k in range(10)]
    return Entities.of(items=items, creators=creators), ranked


def ratio(order: list[str], merit: dict[str, float], depth: int) -> float:
    """min/max over groups (first letter) of sum 1/log2(1+p) for p <= depth over sum merit."""
    exposure: dict[str, float] = {}
    total: dict[str, float] = {}
    for p, item_id in enumerate(order, start=1):
        group = item_id[0]
        exposure[group] = exposure.get(group, 0.0) + (1 / math.log2(1 + p) if p <= depth else 0)
        total[group] = total.get(group, 0.0) + merit[item_id]
    rates = [exposure[g] / total[g] for g in total]
    return min(rates) / max(rates)


def test_empty_single_group_and_nothing_lost():
    entities, ranked = biased()
    fair = ExposureFairness(entities=entities)
    assert fair(Request("u"), Profile("u"), []) == []
    heads = ranked[:10]
    assert [c.item_id for c in fair(Request("u"), Profile("u"), list(heads))] == [
        c.item_id for c in heads
    ]
    out = fair(Request("u", n=10), Profile("u"), ranked)
    assert sorted(c.item_id for c in out) == sorted(c.item_id for c in ranked)


@pytest.mark.parametrize("target", [0.6, 0.8, 0.9])
def test_equal_quality_groups_reach_the_target_ratio(target):
    entities, ranked = biased()
    merit = {c.item_id: 0.5 for c in ranked}
    plain = [c.item_id for c in ranked]
    assert ratio(plain, merit, 10) == 0.0  # the biased ranking shows no novice at all
    fair = ExposureFairness({"target_ratio": target}, entities=entities)
    out = fair(Request("u", n=10), Profile("u"), ranked)
    order = [c.item_id for c in out]
    assert ratio(order, merit, 10) >= target
    # within a group the ranker's order is kept: calibration is per group, not per item
    assert [i for i in order if i[0] == "h"] == [f"h{k}" for k in range(10)]
    assert [i for i in order if i[0] == "n"] == [f"n{k}" for k in range(10)]
    lifted = [c for c in out[:10] if c.item_id[0] == "n"]
    assert lifted and all("rerank:fairness(novice)" in c.reasons for c in lifted)
    scores = [c.score for c in out]
    assert scores == sorted(scores, reverse=True)  # calibrated scores explain the new order


def test_merit_follows_quality_not_the_ranker():
    # novices of a fifth of the heads' quality deserve less exposure, so fewer are lifted
    entities, ranked = biased(quality_novice=0.1)
    fair = ExposureFairness({"target_ratio": 0.8}, entities=entities)
    order = [c.item_id for c in fair(Request("u", n=10), Profile("u"), ranked)]
    merit = {i: 0.5 if i[0] == "h" else 0.1 for i in order}
    assert ratio(order, merit, 10) >= 0.8
    equal = [c.item_id for c in ExposureFairness({"target_ratio": 0.8}, entities=biased()[0])(
        Request("u", n=10), Profile("u"), biased()[1]
    )]  # fmt: skip
    assert sum(i[0] == "n" for i in order[:10]) < sum(i[0] == "n" for i in equal[:10])


def test_groups_from_creator_attrs_and_unknown_items_stay_in_order():
    entities, ranked = biased()
    ranked.insert(3, Candidate("x", 97.5, "popular"))  # no metadata: no group
    fair = ExposureFairness({"group_by": "region", "merit": "score"}, entities=entities)
    out = fair(Request("u", n=10), Profile("u"), ranked)
    groups = [c.reasons for c in out if c.item_id.startswith("n") and c.reasons]
    assert groups and all(r == ["rerank:fairness(south)"] for r in groups)
    others = [c.item_id for c in out if not c.item_id.startswith("n")]
    assert others == ["h0", "h1", "h2", "x"] + [f"h{k}" for k in range(3, 10)]


def test_window_limits_what_is_calibrated():
    entities, ranked = biased()
    fair = ExposureFairness({"window": 10}, entities=entities)  # only heads in the window
    out = fair(Request("u", n=10), Profile("u"), ranked)
    assert [c.item_id for c in out] == [c.item_id for c in ranked]


def test_rate_helpers_known_answer():
    rates = group_rates(["a", "b", None], np.array([1.0, 2.0, 5.0]), np.array([1, 3, 2]), 3)
    assert rates == pytest.approx({"a": 1.0, "b": 0.5 / 2.0})
    assert exposure_ratio(rates) == pytest.approx(0.25)
    assert exposure_ratio({"a": 1.0}) == 1.0
