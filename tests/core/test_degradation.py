"""Per-stage deadlines and fallbacks: a slow or broken stage costs quality, never the response.

Slowness is simulated with a fake timer that the fake components advance, so the tests are
exact and take no real time.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar, cast
from unittest.mock import Mock

import pyarrow as pa

from ecorec.core.config import DeadlinesConfig
from ecorec.core.contracts import Candidate, Request, Slate
from ecorec.core.entities import CuratedPool, Item
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Profile
from ecorec.data.catalog import SQLCatalog
from ecorec.data.training import TrainingData
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.curated import CuratedRecall
from ecorec.recall.item_cf import ItemCFRecall
from ecorec.recall.merge import Merge
from ecorec.recall.popular import PopularRecall

BUDGETS = DeadlinesConfig(recall=30, rank=20, rerank=10)


class FakeTimer:
    """Monotonic seconds that only move when a fake component says it took time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, ms: float) -> None:
        self.now += ms / 1000


T = TypeVar("T")


def named(cls: type[T], name: str) -> type[T]:
    """A subclass of ``cls`` whose class-level ``name`` is ``name`` (the stage contract)."""
    return cast(type[T], type(name, (cls,), {"name": name}))


class FakeChannel:
    """A recall channel with fixed items that takes ``ms`` of the fake timer."""

    name: ClassVar[str] = "fake"

    def __init__(
        self,
        items: list[str],
        timer: FakeTimer,
        ms: float = 0,
        personalized: bool = False,
    ) -> None:
        self.items, self.timer, self.ms = items, timer, ms
        self.personalized = personalized
        self.calls = 0

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        self.calls += 1
        self.timer.spend(self.ms)
        return [
            Candidate(i, float(len(self.items) - k), self.name) for k, i in enumerate(self.items)
        ]


class FakeReverse:
    """A re-ranker that reverses the list, taking ``ms`` of the fake timer."""

    name: ClassVar[str] = "fake"

    def __init__(self, timer: FakeTimer, ms: float = 0) -> None:
        self.timer, self.ms = timer, ms
        self.calls = 0

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        self.calls += 1
        self.timer.spend(self.ms)
        return list(reversed(ranked))


class FakeRanker(FakeReverse):
    """The same as a ranker (whose contract names the list ``candidates``)."""

    def __call__(
        self, request: Request, profile: Profile, candidates: list[Candidate]
    ) -> list[Candidate]:
        return super().__call__(request, profile, candidates)


def Channel(  # noqa: N802 - reads like the class it builds
    name: str, items: list[str], timer: FakeTimer, ms: float = 0, personalized: bool = False
) -> FakeChannel:
    return named(FakeChannel, name)(items, timer, ms, personalized)


def Reverse(name: str, timer: FakeTimer, ms: float = 0) -> FakeReverse:  # noqa: N802
    return named(FakeReverse, name)(timer, ms)


def Ranker(name: str, timer: FakeTimer, ms: float = 0) -> FakeRanker:  # noqa: N802
    return named(FakeRanker, name)(timer, ms)


def ids(slate: Slate) -> list[str]:
    return [item.item_id for item in slate.items]


def test_within_budget_nothing_degrades() -> None:
    timer = FakeTimer()
    pipeline = Pipeline(
        [Channel("a", ["x", "y", "z"], timer, ms=10)],
        Merge(),
        Ranker("rank", timer, ms=19),
        [Reverse("flip", timer, ms=9)],
        deadlines=BUDGETS,
        timer=timer,
    )
    slate = pipeline(Request("u", n=3))
    assert ids(slate) == ["x", "y", "z"]  # reversed twice
    assert not slate.degraded and slate.stages["fallbacks"] == []


def test_recall_stops_calling_channels_once_its_budget_is_spent() -> None:
    timer = FakeTimer()
    first = Channel("first", ["a", "b"], timer, ms=20)
    slow = Channel("slow", ["c"], timer, ms=15)  # 35 ms spent after it: over 30
    late = [Channel("late1", ["d"], timer), Channel("late2", ["e"], timer)]
    pipeline = Pipeline(
        [first, slow, *late], Merge(), RecallOrderRanker(), deadlines=BUDGETS, timer=timer
    )
    slate = pipeline(Request("u", n=5))
    assert ids(slate) == ["a", "b", "c"]  # the channel that overran keeps its output
    assert [c.calls for c in late] == [0, 0]
    assert slate.stages["timed_out"] == ["late1", "late2"]
    assert slate.stages["fallbacks"] == ["recall:timeout"]
    assert slate.degraded


def test_an_empty_recall_calls_the_non_personalised_channels_anyway() -> None:
    timer = FakeTimer()
    personal = Channel("personal", [], timer, ms=50, personalized=True)
    other_personal = Channel("other", ["p"], timer, personalized=True)
    popular = Channel("popular", ["q1", "q2"], timer)
    pipeline = Pipeline(
        [personal, other_personal, popular],
        Merge(),
        RecallOrderRanker(),
        deadlines=BUDGETS,
        timer=timer,
    )
    slate = pipeline(Request("u", n=5))
    assert ids(slate) == ["q1", "q2"]
    assert other_personal.calls == 0  # still over budget: only the non-personalised run late
    assert slate.stages["timed_out"] == ["other"]
    assert slate.stages["fallbacks"] == ["recall:timeout", "recall:empty"]
    assert slate.degraded and slate.reason is None


def test_a_ranker_that_raises_or_overruns_falls_back_to_recall_order() -> None:
    timer = FakeTimer()
    channel = Channel("a", ["x", "y", "z"], timer)
    broken = Mock(side_effect=RuntimeError("model file corrupt"))
    broken.name = "deepfm"
    pipeline = Pipeline([channel], Merge(), broken, deadlines=BUDGETS, timer=timer)
    slate = pipeline(Request("u", n=3))
    assert ids(slate) == ["x", "y", "z"]
    assert slate.stages["fallbacks"] == ["rank:error"] and slate.degraded
    assert pipeline.failures == {"deepfm": 1}

    slow = Ranker("deepfm", timer, ms=21)
    slate = Pipeline([channel], Merge(), slow, deadlines=BUDGETS, timer=timer)(Request("u", n=3))
    assert slow.calls == 1
    assert ids(slate) == ["x", "y", "z"]  # its reversed answer came too late and is dropped
    assert slate.stages["fallbacks"] == ["rank:timeout"] and slate.degraded


def test_a_reranker_that_raises_is_skipped_and_counted() -> None:
    timer = FakeTimer()
    broken = Mock(side_effect=ValueError("bad slot"))
    broken.name = "ads"
    after = Reverse("flip", timer)
    pipeline = Pipeline(
        [Channel("a", ["x", "y", "z"], timer)],
        Merge(),
        RecallOrderRanker(),
        [broken, after],
        deadlines=BUDGETS,
        timer=timer,
    )
    slate = pipeline(Request("u", n=3))
    assert ids(slate) == ["z", "y", "x"]  # the list passed through the broken one to the next
    assert after.calls == 1
    assert slate.stages["fallbacks"] == ["rerank:ads:error"] and slate.degraded
    assert pipeline.failures == {"rerank.ads": 1}


def test_rerank_over_budget_skips_the_remaining_rerankers() -> None:
    timer = FakeTimer()
    slow = Reverse("dpp", timer, ms=12)
    skipped = [Reverse("explore", timer), Reverse("curated", timer)]
    pipeline = Pipeline(
        [Channel("a", ["x", "y"], timer)],
        Merge(),
        RecallOrderRanker(),
        [slow, *skipped],
        deadlines=BUDGETS,
        timer=timer,
    )
    slate = pipeline(Request("u", n=2))
    assert ids(slate) == ["y", "x"]  # the slow re-ranker's work is kept
    assert [r.calls for r in skipped] == [0, 0]
    assert slate.stages["rerank_skipped"] == ["explore", "curated"]
    assert slate.stages["fallbacks"] == ["rerank:timeout"] and slate.degraded


def test_everything_failing_at_once_still_answers() -> None:
    timer = FakeTimer()
    broken_channel = Mock(side_effect=OSError("index gone"))
    broken_channel.name, broken_channel.personalized = "item_cf", True
    ranker = Mock(side_effect=RuntimeError)
    ranker.name = "din"
    reranker = Mock(side_effect=RuntimeError)
    reranker.name = "dpp"
    pipeline = Pipeline(
        [broken_channel, Channel("popular", ["q"], timer)],
        Merge(),
        ranker,
        [reranker],
        deadlines=BUDGETS,
        timer=timer,
    )
    slate = pipeline(Request("u", n=3))
    assert ids(slate) == ["q"]
    assert slate.stages["failed"] == ["item_cf"]
    assert slate.stages["fallbacks"] == ["rank:error", "rerank:dpp:error"]
    assert slate.degraded


def _history() -> pa.Table:
    rows = [("a", "i1", 0), ("a", "i2", 1), ("b", "i1", 0), ("b", "i2", 1), ("c", "i3", 2)]
    users, items, stamps = zip(*rows, strict=True)
    return pa.table(
        {
            "user_id": list(users),
            "item_id": list(items),
            "rating": [5.0] * len(rows),
            "timestamp": [float(t) for t in stamps],
        }
    )


def test_a_brand_new_user_is_served_by_popular_and_curated() -> None:
    catalog = SQLCatalog("sqlite:///:memory:")
    catalog.put([Item("i1"), Item("i2"), Item("i3"), CuratedPool("launch", "Launch", ("i3",))])
    data = TrainingData(table=_history(), catalog=catalog)
    item_cf, popular, curated = ItemCFRecall(), PopularRecall(), CuratedRecall()
    for channel in (item_cf, popular, curated):
        channel.train(data)
    pipeline = Pipeline([item_cf, curated, popular], Merge(), RecallOrderRanker())
    slate = pipeline(Request("nobody-yet", n=3, ts=10.0))
    assert slate.stages["recall"]["item_cf"] == 0
    assert slate.stages["cold_start"] is True
    assert {item.channel for item in slate.items} == {"curated", "popular"}
    assert sorted(ids(slate)) == ["i1", "i2", "i3"]
    assert not slate.degraded  # the designed path for a new user, not a fault
