"""Impression samples: each objective's label from the events that followed, known answers."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ecorec.core.events import Event, EventType
from ecorec.data.events import events_to_table
from ecorec.features.impressions import LabelConfig, impression_samples, positive_events


def _table(events: list[Event]) -> pa.Table:
    return events_to_table(events)


def _ev(n: int, ts: float, kind: str, item: str = "i1", request: str | None = "r1", **kw) -> Event:
    return Event(
        f"e{n}", ts, kw.pop("user", "u1"), EventType(kind), item_id=item, request_id=request, **kw
    )


DURATIONS = pa.table({"item_id": ["i1", "i2", "i3"], "duration": [100.0, 100.0, 100.0]})


def _by_item(table: pa.Table) -> dict[str, dict]:
    return {row["item_id"]: row for row in table.to_pylist()}


def test_each_objective_comes_from_the_events_after_the_impression() -> None:
    events = [
        _ev(1, 10.0, "impression", "i1", position=0),
        _ev(2, 10.0, "impression", "i2", position=1),
        _ev(3, 10.0, "impression", "i3", position=2),
        _ev(4, 11.0, "click", "i1"),
        _ev(5, 12.0, "play", "i1", value=90.0),  # completion 0.9 >= 0.8: finished
        _ev(6, 13.0, "like", "i1"),
        _ev(7, 14.0, "share", "i1"),
        _ev(8, 11.0, "click", "i2"),
        _ev(9, 11.5, "play", "i2", value=1.0),  # quick skip: negative
        _ev(10, 15.0, "not_interested", "i3"),
        _ev(11, 20.0, "conversion", "i1", value=9.99),
    ]
    rows = _by_item(impression_samples(_table(events), DURATIONS))
    assert rows["i1"]["click"] == 1.0 and rows["i1"]["like"] == 1.0 and rows["i1"]["share"] == 1.0
    assert rows["i1"]["finish"] == 1.0 and rows["i1"]["watch_time"] == pytest.approx(0.9)
    assert rows["i1"]["convert"] == 1.0 and rows["i1"]["negative"] == 0.0
    assert rows["i2"]["click"] == 1.0 and rows["i2"]["finish"] == 0.0
    assert rows["i2"]["negative"] == 1.0  # 1 s of play after a click
    assert rows["i3"]["click"] == 0.0 and rows["i3"]["negative"] == 1.0
    assert rows["i3"]["watch_time"] == 0.0 and rows["i3"]["comment"] == 0.0
    assert [rows[i]["position"] for i in ("i1", "i2", "i3")] == [0, 1, 2]


def test_events_of_another_request_or_before_the_impression_do_not_label_it() -> None:
    events = [
        _ev(1, 5.0, "click", "i1", request="r0"),  # before the impression
        _ev(2, 10.0, "impression", "i1", request="r1"),
        _ev(3, 11.0, "click", "i1", request="r2"),  # the same item, another request
    ]
    (row,) = impression_samples(_table(events), DURATIONS).to_pylist()
    assert row["click"] == 0.0


def test_without_request_ids_the_window_decides() -> None:
    events = [
        _ev(1, 10.0, "impression", "i1", request=None),
        _ev(2, 10.0 + 3599, "click", "i1", request=None),
        _ev(3, 100.0, "impression", "i2", request=None),
        _ev(4, 100.0 + 3601, "click", "i2", request=None),
    ]
    rows = _by_item(impression_samples(_table(events), DURATIONS, LabelConfig(window=3600)))
    assert rows["i1"]["click"] == 1.0 and rows["i2"]["click"] == 0.0


def test_unknown_duration_leaves_finish_unknown_and_repeats_count_once() -> None:
    events = [
        _ev(1, 10.0, "impression", "x9"),
        _ev(2, 10.5, "impression", "x9"),  # shown twice in one request: one row, first time
        _ev(3, 11.0, "click", "x9"),
        _ev(4, 12.0, "play", "x9", value=50.0),
    ]
    (row,) = impression_samples(_table(events), DURATIONS).to_pylist()
    assert row["ts"] == 10.0 and row["click"] == 1.0
    assert row["finish"] is None and row["watch_time"] is None


def test_conversion_without_a_click_is_not_a_conversion_label() -> None:
    events = [_ev(1, 10.0, "impression", "i1"), _ev(2, 20.0, "conversion", "i1", value=1.0)]
    (row,) = impression_samples(_table(events), DURATIONS).to_pylist()
    assert row["convert"] == 0.0


def test_ad_impressions_are_keyed_by_ad() -> None:
    events = [
        Event("a1", 10.0, "u1", EventType.IMPRESSION, ad_id="ad1", request_id="r1"),
        Event("a2", 11.0, "u1", EventType.CLICK, ad_id="ad1", request_id="r1"),
        Event("a3", 50.0, "u1", EventType.CONVERSION, ad_id="ad1", request_id="r1", value=5.0),
        _ev(4, 10.0, "impression", "i1"),
    ]
    (row,) = impression_samples(_table(events), key="ad_id").to_pylist()
    assert row["ad_id"] == "ad1" and row["click"] == 1.0 and row["convert"] == 1.0
    assert row["finish"] is None and row["watch_time"] is None


def test_positive_events_are_the_consumption_events_in_time_order() -> None:
    events = [_ev(1, 9.0, "like", "i2"), _ev(2, 1.0, "click", "i1"), _ev(3, 5.0, "impression")]
    table = positive_events(_table(events), {"click", "like"})
    assert table.column("item_id").to_pylist() == ["i1", "i2"]


def test_bad_label_config_is_refused() -> None:
    with pytest.raises(ValueError, match="finish_threshold"):
        LabelConfig(finish_threshold=1.5)


def test_ratings_without_impressions_become_rows_labelled_by_the_rating() -> None:
    events = [
        Event("r1", 5.0, "u1", EventType.RATING, item_id="i1", value=5.0),
        Event("r2", 6.0, "u1", EventType.RATING, item_id="i2", value=2.0),
        _ev(3, 10.0, "impression", "i3"),
    ]
    rows = _by_item(impression_samples(_table(events), DURATIONS))
    assert rows["i1"]["click"] == 1.0 and rows["i2"]["click"] == 0.0
    assert rows["i1"]["like"] is None and rows["i1"]["request_id"] is None
    assert rows["i3"]["click"] == 0.0 and rows["i3"]["like"] == 0.0
    assert [r["item_id"] for r in impression_samples(_table(events)).to_pylist()] == [
        "i1",
        "i2",
        "i3",
    ]
