"""Creator traffic: boost by stage and quality, the novice floor and the head cap."""

from __future__ import annotations

import math

import pytest

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, CreatorStage, Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.creator import HEAD_CAP, NOVICE_BOOST, CreatorTraffic

CREATORS = [
    Creator("head", CreatorStage.HEAD),
    Creator("mid", CreatorStage.MID),
    Creator("nov", CreatorStage.NOVICE),
]


def platform() -> tuple[Entities, list[Candidate]]:
    """Six head items on top, then four mid, then novices (two good, two poor), no metadata."""
    items = [Item(f"h{k}", "head", quality=0.9) for k in range(6)]
    items += [Item(f"m{k}", "mid", quality=0.7) for k in range(4)]
    items += [Item("n_good0", "nov", quality=0.8), Item("n_poor0", "nov", quality=0.2)]
    items += [Item("n_good1", "nov", quality=0.6), Item("n_poor1", "nov", quality=0.1)]
    ids = [i.item_id for i in items] + ["unknown"]
    ranked = [Candidate(i, 100.0 - k, "popular") for k, i in enumerate(ids)]
    return Entities.of(items=items, creators=CREATORS), ranked


def run(config: dict, n: int = 10) -> list[Candidate]:
    entities, ranked = platform()
    return CreatorTraffic(config, entities=entities)(Request("u", n=n), Profile("u"), ranked)


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.item_id for c in candidates]


def test_empty_and_nothing_lost():
    entities, ranked = platform()
    assert CreatorTraffic(entities=entities)(Request("u"), Profile("u"), []) == []
    out = run({"stage_boost": {"novice": 1.0}, "novice_share": 0.3, "head_cap": 0.2})
    assert sorted(ids(out)) == sorted(ids(ranked))


def test_boost_lifts_good_novices_only():
    # scores 100..86, a 14-point range: a 0.5 boost is 7 points, n_good0 90 -> 97
    out = run({"stage_boost": {"novice": 0.5}, "novice_share": 0.0})
    order = ids(out)
    assert order.index("n_good0") == 4  # ties h3 (97) and stays behind it: the sort is stable
    assert order.index("n_good1") == 7  # 88 -> 95, right behind h5 (95)
    assert order.index("n_poor0") > order.index("m3")  # below min_quality: no boost
    boosted = {c.item_id for c in out if NOVICE_BOOST in c.reasons}
    assert boosted == {"n_good0", "n_good1"}
    scores = [c.score for c in out]
    assert scores == sorted(scores, reverse=True)


def test_quality_boost_reorders_by_quality_without_stage_boost():
    out = run({"stage_boost": {}, "quality_boost": 1.0, "novice_share": 0.0})
    # 14-point range x quality: h +12.6, m +9.8, novices +2.8 to +11.2: heads stay on top
    first = ids(out)[:6]
    assert first == ["h0", "h1", "h2", "h3", "h4", "h5"]
    assert out[ids(out).index("m0")].score == pytest.approx(94.0 + 14 * 0.7)


def test_novice_floor_is_guaranteed_in_the_first_n():
    out = run({"stage_boost": {}, "novice_share": 0.2}, n=10)
    top = ids(out)[:10]
    assert {"n_good0", "n_good1"} <= set(top)
    assert "n_poor0" not in top  # quality below the threshold never counts
    assert top[:8] == ["h0", "h1", "h2", "h3", "h4", "h5", "m0", "m1"]  # the lowest made way
    assert ids(out)[10:12] == ["m2", "m3"]
    assert all(NOVICE_BOOST in c.reasons for c in out[8:10])


@pytest.mark.parametrize("n", [4, 5, 10, 12])
def test_head_cap_holds_for_any_n(n):
    cap = 0.3
    out = run({"stage_boost": {}, "novice_share": 0.0, "head_cap": cap}, n=n)
    heads = [c for c in out[:n] if c.item_id.startswith("h")]
    assert len(heads) <= math.floor(cap * n)
    promoted = [c for c in out[:n] if HEAD_CAP in c.reasons]
    assert len(promoted) == min(6, n) - math.floor(cap * n)
    assert ids(out)[: len(heads)] == [f"h{k}" for k in range(len(heads))]  # best heads stay


def test_floor_and_cap_together():
    out = run({"stage_boost": {}, "novice_share": 0.2, "head_cap": 0.2}, n=10)
    top = ids(out)[:10]
    assert sum(i.startswith("h") for i in top) == 2
    assert {"n_good0", "n_good1"} <= set(top)
    assert len(out) == 15


def test_cap_keeps_heads_when_nothing_else_is_left():
    items = [Item(f"h{k}", "head") for k in range(3)]
    entities = Entities.of(items=items, creators=CREATORS)
    ranked = [Candidate(f"h{k}", float(-k), "popular") for k in range(3)]
    traffic = CreatorTraffic({"head_cap": 0.0}, entities=entities)
    assert ids(traffic(Request("u", n=3), Profile("u"), ranked)) == ["h0", "h1", "h2"]
    # 13 of 15: only two non-head items are left below the slate, so two heads make way
    out = run({"stage_boost": {}, "novice_share": 0.0, "head_cap": 0.3}, n=13)
    assert sum(c.item_id.startswith("h") for c in out[:13]) == 4


def test_keep_order_mode_only_applies_the_constraints():
    entities, ranked = platform()
    ranked.reverse()  # an order a diversity stage chose, not by score
    traffic = CreatorTraffic(
        {"stage_boost": {"novice": 5.0}, "sort": False, "head_cap": 0.2}, entities=entities
    )
    out = traffic(Request("u", n=5), Profile("u"), ranked)
    assert ids(out) == ids(ranked)  # no head in the top 5 and the floor is met: untouched
    assert out[2].item_id == "n_good1" and out[2].score == 88.0 + 14 * 5.0  # boost in score


def test_an_item_whose_creator_appears_later_gets_its_stage_then():
    """Traits are cached only once item and creator are both known; until then re-read."""
    entities = Entities.of(items=[Item("n1", "n", quality=0.9)])
    traffic = CreatorTraffic(
        {"novice_share": 0.0, "stage_boost": {"novice": 2.0}}, entities=entities
    )
    ranked = [Candidate("n1", 1.0, "popular"), Candidate("x", 2.0, "popular")]
    assert traffic(Request("u", n=2), Profile("u"), ranked)[0].item_id == "x"
    entities.creators["n"] = Creator("n", CreatorStage.NOVICE)
    ranked = [Candidate("n1", 1.0, "popular"), Candidate("x", 1.05, "popular")]
    out = traffic(Request("u", n=2), Profile("u"), ranked)
    assert [c.item_id for c in out] == ["n1", "x"] and NOVICE_BOOST in out[0].reasons
