"""Break-up rules: known answers, scene overrides, and properties over random lists."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.rules import RuleBreakup, RulesConfig


def run(rules: RuleBreakup, ids: list[str], scene: str = "feed") -> list[Candidate]:
    ranked = [Candidate(i, float(len(ids) - k), "popular") for k, i in enumerate(ids)]
    return rules(Request("u", scene=scene), Profile("u"), ranked)


def catalog_of(spec: list[tuple[str | None, str | None, tuple[str, ...]]]) -> Entities:
    """Items ``i0, i1, ...`` with (category, creator, tags)."""
    return Entities.of(
        items=[
            Item(f"i{k}", category=c, creator_id=cr, tags=t) for k, (c, cr, t) in enumerate(spec)
        ]
    )


def longest_runs(values: list[str | None]) -> list[int]:
    """Length of the run ending at each position (0 for a missing value)."""
    out: list[int] = []
    for k, v in enumerate(values):
        out.append(0 if v is None else (out[-1] + 1 if k and values[k - 1] == v else 1))
    return out


def test_category_cap_creator_gap_and_reasons():
    spec = [("a", "x", ()), ("a", "y", ()), ("a", "z", ()), ("b", "x", ()), ("b", "w", ())]
    rules = RuleBreakup({"max_run": {"category": 2}, "creator_gap": 2}, entities=catalog_of(spec))
    out = run(rules, [f"i{k}" for k in range(5)])
    # i0 a/x, i1 a/y, then a third "a" breaks the cap: i3 is b but creator x within 2 -> i4
    assert [c.item_id for c in out] == ["i0", "i1", "i4", "i2", "i3"]
    assert out[2].reasons == ["rerank:rules(category,creator_gap)"]
    assert [c.reasons for c in out if c.item_id != "i4"] == [[]] * 4


def test_topic_runs_use_any_shared_tag():
    spec = [("a", None, ("x", "y")), ("b", None, ("y",)), ("c", None, ("z",))]
    rules = RuleBreakup({"max_run": {"topic": 1}}, entities=catalog_of(spec))
    assert [c.item_id for c in run(rules, ["i0", "i1", "i2"])] == ["i0", "i2", "i1"]


def test_scene_overrides_merge_with_the_defaults():
    config = RulesConfig.model_validate(
        {
            "max_run": {"category": 2, "creator": 1},
            "scenes": {"detail": {"max_run": {"category": 1}}},
        }
    )
    assert config.for_scene("detail").max_run == {"category": 1, "creator": 1}
    assert config.for_scene("feed").max_run == {"category": 2, "creator": 1}
    spec = [("a", None, ()), ("a", None, ()), ("b", None, ())]
    rules = RuleBreakup(config, entities=catalog_of(spec))
    assert [c.item_id for c in run(rules, ["i0", "i1", "i2"])] == ["i0", "i1", "i2"]
    assert [c.item_id for c in run(rules, ["i0", "i1", "i2"], "detail")] == ["i0", "i2", "i1"]


def test_nothing_is_dropped_when_no_arrangement_exists_and_window_is_respected():
    spec = [("a", None, ())] * 4 + [("b", None, ())]
    rules = RuleBreakup({"max_run": {"category": 1}, "window": 2}, entities=catalog_of(spec))
    ids = [f"i{k}" for k in range(5)]
    # positions 0-1 follow the rule; beyond the window the ranked order stays
    assert [c.item_id for c in run(rules, ids)] == ["i0", "i4", "i1", "i2", "i3"]
    forced = RuleBreakup({"max_run": {"category": 1}}, entities=catalog_of(spec))
    assert [c.item_id for c in run(forced, ids)] == ["i0", "i4", "i1", "i2", "i3"]


def test_empty_unknown_and_no_rules():
    rules = RuleBreakup({"max_run": {"category": 1}}, entities=Entities())
    assert run(rules, []) == []
    # unknown items have no category: they never break a rule
    assert [c.item_id for c in run(rules, ["p", "q", "r"])] == ["p", "q", "r"]
    assert [c.item_id for c in run(RuleBreakup(), ["p", "q"])] == ["p", "q"]


CATEGORY = st.sampled_from(["a", "b", "c", None])


@settings(max_examples=150, deadline=None)
@given(
    categories=st.lists(CATEGORY, min_size=0, max_size=40),
    cap=st.integers(1, 3),
)
def test_a_run_passes_the_cap_only_when_every_item_left_shares_its_category(categories, cap):
    spec = [(c, None, ()) for c in categories]
    rules = RuleBreakup({"max_run": {"category": cap}, "window": 100}, entities=catalog_of(spec))
    ids = [f"i{k}" for k in range(len(categories))]
    out = [c.item_id for c in run(rules, ids)]
    assert sorted(out) == sorted(ids)  # a permutation: nothing dropped, nothing added
    placed = [categories[int(i[1:])] for i in out]
    for position, length in enumerate(longest_runs(placed)):
        if length > cap:
            assert all(c == placed[position] for c in placed[position:])


@settings(max_examples=150, deadline=None)
@given(
    creators=st.lists(st.sampled_from(["x", "y", "z", "w", None]), min_size=0, max_size=40),
    gap=st.integers(1, 3),
)
def test_a_creator_repeats_within_the_gap_only_when_nothing_else_is_left(creators, gap):
    spec = [(None, c, ()) for c in creators]
    rules = RuleBreakup({"creator_gap": gap, "window": 100}, entities=catalog_of(spec))
    ids = [f"i{k}" for k in range(len(creators))]
    out = [c.item_id for c in run(rules, ids)]
    assert sorted(out) == sorted(ids)
    placed = [creators[int(i[1:])] for i in out]
    for position, creator in enumerate(placed):
        recent = set(placed[max(0, position - gap) : position]) - {None}
        if creator in recent:  # allowed only if every item still to place was blocked too
            assert all(c in recent for c in placed[position:])


def test_default_rules_break_up_creators_and_categories():
    """On by default: two of a category in a row at most, two others between one creator's."""
    spec = [("news", "c1", ()), ("news", "c1", ()), ("news", "c2", ()), ("music", "c3", ()),
            ("sports", "c4", ()), ("music", "c1", ())]  # fmt: skip
    ids = [f"i{k}" for k in range(len(spec))]
    out = [c.item_id for c in run(RuleBreakup(entities=catalog_of(spec)), ids)]
    # i1 waits for two other creators after i0; i5 breaks the gap, but nothing else is left
    assert out == ["i0", "i2", "i3", "i1", "i4", "i5"]
    off = RuleBreakup({"max_run": {}, "creator_gap": 0}, entities=catalog_of(spec))
    assert [c.item_id for c in run(off, ids)] == ids
