"""NearlineStats: known answers, idempotent replays, bandit rewards counted once, erasure."""

from __future__ import annotations

import math
import random
import uuid

import pytest
import sqlalchemy as sa

from ecorec.core.events import Event, EventType
from ecorec.data.nearline import ArmTally, NearlineConfig, NearlineStats

CREATORS = {"i1": "c1", "i2": "c2"}
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _batch() -> list[Event]:
    decision = {"policy": "ts", "propensity": 0.5}
    return [
        Event("e1", 100.0, "u1", EventType.IMPRESSION, item_id="i1", request_id="r1",
              position=0, extra={**decision, "arm": "i1"}),
        Event("e2", 101.0, "u1", EventType.CLICK, item_id="i1", request_id="r1", position=0),
        Event("e3", 100.0, "u1", EventType.IMPRESSION, item_id="i2", request_id="r1",
              position=1, extra={**decision, "arm": "i2"}),
        Event("e4", 102.0, "u2", EventType.LIKE, item_id="i1"),
        Event("e5", 103.0, "u2", EventType.TIP, creator_id="c9", value=5.0),
        Event("e6", 104.0, "u3", EventType.PLAY, item_id="i2", value=30.0),
    ]  # fmt: skip


def _state(stats: NearlineStats) -> tuple:
    return (
        {i: stats.item_stats(i) for i in ("i1", "i2", "i3")},
        {c: stats.creator_stats(c) for c in ("c1", "c2", "c9")},
        stats.bandit_tallies(),
        [(i, round(s, 9)) for i, s in stats.trending(10, now=200.0)],
    )


@pytest.fixture
def stats(tmp_path):
    store = NearlineStats(f"sqlite:///{tmp_path / 'n.db'}", NearlineConfig(half_life_s=10.0))
    yield store
    store.close()


def _check_known_answers(stats: NearlineStats) -> None:
    result = stats.apply(_batch(), CREATORS.get)
    assert result.new == 6
    # decisions first (pulls, 0.0), then the click that revises i1's (1.0)
    assert result.outcomes == [("ts", "i1", 0.0), ("ts", "i2", 0.0), ("ts", "i1", 1.0)]
    assert stats.item_stats("i1") == {"impression": 1, "click": 1, "like": 1}
    assert stats.item_stats("i2") == {"impression": 1, "play": 1}
    assert stats.item_stats("nope") == {}
    assert stats.creator_stats("c1") == {"impression": 1, "click": 1, "like": 1}
    assert stats.creator_stats("c2") == {"impression": 1, "play": 1}
    assert stats.creator_stats("c9") == {"tip": 1}
    assert stats.bandit_tallies() == [ArmTally("ts", "i1", 1, 1), ArmTally("ts", "i2", 1, 0)]
    assert stats.bandit_tallies(policy="other") == []
    # Half-life 10 s, weights click 1, like 2, play 1; impressions and tips weigh nothing.
    expected_i1 = (1 * 2 ** (-(112 - 101) / 10)) + 2 * 2 ** (-(112 - 102) / 10)
    expected_i2 = 2 ** (-(112 - 104) / 10)
    top = stats.trending(5, now=112.0)
    assert [i for i, _ in top] == ["i1", "i2"]
    assert top[0][1] == pytest.approx(expected_i1)
    assert top[1][1] == pytest.approx(expected_i2)
    assert stats.trending(1, now=112.0)[0][0] == "i1"


def test_known_answers_on_a_small_batch(stats) -> None:
    _check_known_answers(stats)


def test_replays_change_nothing_twice(stats) -> None:
    stats.handle(_batch(), CREATORS.get)
    before = _state(stats)
    assert stats.apply(_batch(), CREATORS.get) == type(stats.apply([]))(0, [])
    assert _state(stats) == before
    extra = [
        Event("e7", 105.0, "u4", EventType.CLICK, item_id="i2", request_id="r1"),  # no decision
        Event("e8", 106.0, "u1", EventType.CLICK, item_id="i2", request_id="r1"),  # rewards i2
    ]
    superset = _batch() + extra + _batch()[:2]
    random.Random(4).shuffle(superset)
    result = stats.apply(superset, CREATORS.get)
    assert result.new == 2 and result.outcomes == [("ts", "i2", 1.0)]
    assert stats.item_stats("i2") == {"impression": 1, "play": 1, "click": 2}
    assert stats.bandit_tallies() == [ArmTally("ts", "i1", 1, 1), ArmTally("ts", "i2", 1, 1)]
    after = _state(stats)
    random.Random(5).shuffle(superset)
    assert stats.handle(superset, CREATORS.get) == 0
    assert _state(stats) == after


def test_arrival_order_does_not_change_the_result(tmp_path) -> None:
    events = _batch() + [
        Event(f"p{i}", 90.0 + 7 * i, "u9", EventType.SHARE, item_id=f"i{i % 3 + 1}")
        for i in range(12)
    ]
    states = []
    for seed in range(3):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        store = NearlineStats(
            f"sqlite:///{tmp_path / f'{seed}.db'}", NearlineConfig(half_life_s=10)
        )
        for start in range(0, len(shuffled), 4):  # several batches, in a shuffled order
            store.handle(shuffled[start : start + 4], CREATORS.get)
        states.append(_state(store))
        store.close()
    assert states[0] == states[1] == states[2]


def test_bandit_reward_counted_once_whatever_the_order(stats) -> None:
    click = Event("c1", 101.0, "u1", EventType.CLICK, item_id="i1", request_id="r1")
    click_again = Event("c2", 102.0, "u1", EventType.CLICK, item_id="i1", request_id="r1")
    impression = Event("m1", 100.0, "u1", EventType.IMPRESSION, item_id="i1", request_id="r1",
                       extra={"policy": "ts"})  # fmt: skip
    # The click comes first: it waits, and counts when its impression arrives.
    assert stats.apply([click]).outcomes == []
    assert stats.bandit_tallies() == []
    # arm defaults to item_id; the decision, then the waiting click's reward
    assert stats.apply([impression]).outcomes == [("ts", "i1", 0.0), ("ts", "i1", 1.0)]
    assert stats.apply([click_again]).outcomes == []
    assert stats.bandit_tallies() == [ArmTally("ts", "i1", 1, 1)]
    # A second impression event for the same slot is not a second decision.
    again = Event("m2", 100.5, "u1", EventType.IMPRESSION, item_id="i1", request_id="r1",
                  extra={"policy": "ts"})  # fmt: skip
    stats.handle([again])
    assert stats.bandit_tallies() == [ArmTally("ts", "i1", 1, 1)]
    # A click by someone else, or on another request, rewards nothing.
    other = Event("x1", 103.0, "u2", EventType.CLICK, item_id="i1", request_id="r1")
    stats.handle([other])
    assert stats.bandit_tallies() == [ArmTally("ts", "i1", 1, 1)]


def test_delete_user_erases_personal_rows(stats) -> None:
    stats.handle(_batch(), CREATORS.get)
    early = Event("k1", 110.0, "u1", EventType.CLICK, item_id="i3", request_id="r2")
    stats.handle([early])  # a pending click naming u1
    with stats.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        assert {"nearline_decisions", "nearline_pending_rewards"} <= set(names)

        def count_u1() -> int:
            total = 0
            for name in ("nearline_decisions", "nearline_pending_rewards"):
                query = sa.text(f"SELECT COUNT(*) FROM {name} WHERE user_id = 'u1'")
                total += conn.execute(query).scalar_one()
            return total

        assert count_u1() == 3
    assert stats.delete_user("u1") == 3
    with stats.engine.connect() as conn:
        assert count_u1() == 0
    assert stats.delete_user("u1") == 0
    # The pending click is gone: its impression arriving later earns no reward.
    late = Event("k2", 109.0, "u1", EventType.IMPRESSION, item_id="i3", request_id="r2",
                 extra={"policy": "ts"})  # fmt: skip
    assert stats.apply([late]).outcomes == [("ts", "i3", 0.0)]  # a decision, never rewarded
    # Aggregates without user ids stay.
    assert stats.item_stats("i1") == {"impression": 1, "click": 1, "like": 1}


def test_prune_forgets_old_ids(stats) -> None:
    stats.apply(_batch(), CREATORS.get, now=1000.0)
    assert stats.prune(older_than=500.0) == 0
    removed = stats.prune(older_than=2000.0)
    assert removed == 6 + 2  # processed ids + the two decisions, recorded at 1000
    # Documented: an id redelivered after pruning counts again.
    assert stats.handle(_batch()[3:4]) == 1
    assert stats.item_stats("i1")["like"] == 2


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="weight"):
        NearlineConfig(trending_weights={"click": -1.0})
    with pytest.raises(ValueError, match="nope"):
        NearlineConfig(trending_weights={"nope": 1.0})
    with pytest.raises(ValueError):
        NearlineConfig(table_prefix="bad prefix;")
    with pytest.raises(ValueError):
        NearlineConfig(half_life_s=0)
    stats = NearlineStats("sqlite:///:memory:")
    with pytest.raises(ValueError, match="k must"):
        stats.trending(0)
    stats.close()


def test_trending_decays_to_now() -> None:
    stats = NearlineStats("sqlite:///:memory:", NearlineConfig(half_life_s=60.0))
    stats.handle([Event("a", 0.0, "u", EventType.SHARE, item_id="old")] * 2)
    stats.handle([Event("b", 300.0, "u", EventType.CLICK, item_id="new")])
    # share weighs 3 but is 5 half-lives old at t=300: 3/32 < 1.
    ranked = stats.trending(2, now=360.0)
    assert [i for i, _ in ranked] == ["new", "old"]
    assert ranked[0][1] == pytest.approx(0.5)
    assert ranked[1][1] == pytest.approx(3 / 64)
    assert math.isclose(stats.trending(2, now=300.0)[0][1], 1.0)
    stats.close()


@pytest.mark.services
def test_postgres_same_answers() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    stats = NearlineStats(PG_URL, NearlineConfig(half_life_s=10.0, table_prefix=prefix))
    try:
        _check_known_answers(stats)
        before = _state(stats)
        assert stats.handle(list(reversed(_batch())), CREATORS.get) == 0
        assert _state(stats) == before
        assert stats.delete_user("u1") == 2
    finally:
        stats.drop_tables()
        stats.close()
