"""Platform features: point-in-time behaviour, and online features equal to offline ones."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from ecorec.core.contracts import Request
from ecorec.core.entities import Creator, CreatorStage, Item, User
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile
from ecorec.data.events import events_to_table
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles.delta import deltas_from_events
from ecorec.features.entities import Entities
from ecorec.features.impressions import event_table
from ecorec.features.platform import PlatformFeatures
from ecorec.features.platform_split import build_platform_split
from ecorec.features.rows import offline_rows, online_rows
from ecorec.features.schema import OOV, PAD


def _samples(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.string()),
            "item_id": pa.array([r[1] for r in rows], pa.string()),
            "ts": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def test_history_holds_only_items_consumed_strictly_before_the_row() -> None:
    positives = _samples(
        [("u1", "a", 1.0), ("u1", "b", 2.0), ("u1", "a", 3.0), ("u1", "c", 5.0), ("u2", "z", 1.0)]
    )
    rows = offline_rows(
        _samples([("u1", "x", 5.0), ("u1", "y", 6.0), ("u3", "x", 9.0)]), positives, 4
    )
    # at t=5: a (first at 1), b; c happened at the same second and is not seen
    assert rows.history_ids(0) == ["a", "b"] and rows.activity[0] == 2
    assert rows.history_ids(1) == ["a", "b", "c"]
    assert rows.history_ids(2) == [] and rows.activity[2] == 0
    assert np.isnan(rows.history_ts[0, 2]) and rows.history_ts[0, 0] == 1.0


def test_a_later_event_never_leaks_into_an_earlier_sample() -> None:
    samples = _samples([("u1", "x", 10.0)])
    before = _samples([("u1", "a", 1.0), ("u1", "b", 2.0)])
    later = _samples([("u1", "a", 1.0), ("u1", "b", 2.0), ("u1", "x", 10.0), ("u1", "c", 11.0)])
    one, two = offline_rows(samples, before, 5), offline_rows(samples, later, 5)
    assert one.history_ids(0) == two.history_ids(0) == ["a", "b"]
    assert one.activity.tolist() == two.activity.tolist() == [2]


def test_history_keeps_the_last_max_history_items() -> None:
    positives = _samples([("u1", f"i{k}", float(k)) for k in range(10)])
    rows = offline_rows(_samples([("u1", "x", 100.0)]), positives, 3)
    assert rows.history_ids(0) == ["i7", "i8", "i9"] and rows.activity[0] == 10


ENTITIES = Entities.of(
    [User("u1", segment="new", region="eu", attrs={"age": 31, "gender": "F"})],
    [
        Item("a", creator_id="c1", category="music", tags=("pop",), quality=0.55),
        Item("b", creator_id="c2", category="news", tags=("world", "eu"), created_at=0.0),
    ],
    [Creator("c1", stage=CreatorStage.NOVICE, quality=0.9), Creator("c2", CreatorStage.HEAD)],
)


def test_unknown_users_items_and_values_encode_as_oov_never_an_error() -> None:
    train = offline_rows(_samples([("u1", "a", 3600.0), ("u1", "b", 7200.0)]), _samples([]), 4)
    features = PlatformFeatures.fit(train, ENTITIES, max_history=4, max_tags=2)
    served = online_rows(Request("ghost", ts=9e9), Profile("ghost"), ["a", "new-item"], 4)
    x = features.encode(served, ENTITIES)
    assert x["user_id"].tolist() == [OOV, OOV] and x["segment"].tolist() == [OOV, OOV]
    assert x["item_id"][0] != OOV and x["item_id"][1] == OOV
    assert x["category"][1] == OOV and x["tags"][1].tolist() == [PAD, PAD]
    assert x["history"].tolist() == [[PAD] * 4] * 2
    schema = features.schema(("click",))
    assert schema.sequence == "history" and schema["history"].embed == "item_id"
    assert {f.name: f.group for f in schema.fields}["creator_stage"] == "creator"


def test_online_features_equal_offline_features(tiny_platform) -> None:
    """The served row for (user, item, time) is the row a model was trained on."""
    events = event_table(tiny_platform.events)
    entities = Entities.from_catalog(tiny_platform.catalog)
    split = build_platform_split(events, entities, ("click",), ratios=(0.8, 0.2))
    raw = split.raw["valid"]
    lookup = ItemLookup.from_catalog(tiny_platform.catalog)
    rng = np.random.default_rng(0)
    with_history = np.flatnonzero(raw.activity > 0)
    picked = rng.choice(with_history, size=25, replace=False)
    all_events = [e for e in tiny_platform.events.scan()]
    for row in picked.tolist():
        user, ts = str(raw.user_id[row]), float(raw.ts[row])
        # the online profile, built by the nearline path in daily batches of the user's events
        mine = [e for e in all_events if e.user_id == user and e.ts < ts]
        profile = Profile(user)
        for day in sorted({int(e.ts // 86_400) for e in mine}):
            batch = [e for e in mine if int(e.ts // 86_400) == day]
            delta = deltas_from_events(batch, lookup).get(user)
            if delta is not None:
                profile.apply(delta)
        request = Request(user, scene=str(raw.scene[row]), ts=ts)
        online = split.features.encode(
            online_rows(request, profile, [str(raw.item_id[row])], split.features.max_history),
            entities,
        )
        offline = split.features.encode(raw.take(slice(row, row + 1)), entities)
        for name, column in offline.items():
            assert online[name].tolist() == column.tolist(), f"{name} of row {row} differs"


def test_a_split_without_impressions_says_what_is_missing() -> None:
    events = events_to_table([Event("e1", 1.0, "u1", EventType.CLICK, item_id="a")])
    with pytest.raises(ValueError, match="impressions"):
        build_platform_split(events, ENTITIES, ("click",))
    with pytest.raises(ValueError, match="unknown objectives"):
        build_platform_split(events, ENTITIES, ("clicks",))


def test_concurrent_requests_encode_as_one_request_would(tiny_platform) -> None:
    """The item-code memo grows while requests run in threads; no row may point past it."""
    from concurrent.futures import ThreadPoolExecutor

    events = event_table(tiny_platform.events)
    entities = Entities.from_catalog(tiny_platform.catalog)
    split = build_platform_split(events, entities, ("click",), ratios=(0.8, 0.2))
    items = sorted({str(i) for i in split.raw["valid"].item_id.tolist()})
    rng = np.random.default_rng(5)
    lists = [rng.choice(items, size=60, replace=False).tolist() for _ in range(64)]
    rows = [online_rows(Request("u-any", ts=9e9), Profile("u-any"), c, 8) for c in lists]

    def fresh() -> PlatformFeatures:
        return PlatformFeatures.from_dict(split.features.to_dict())

    one_by_one = fresh()
    expected = [one_by_one.encode(r, entities) for r in rows]
    shared = fresh()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda r: shared.encode(r, entities), rows))
    for want, have in zip(expected, got, strict=True):
        assert want.keys() == have.keys()
        for name in want:
            assert np.array_equal(want[name].numpy(), have[name].numpy()), name


def test_a_requests_rows_encode_like_each_row_alone(tiny_platform) -> None:
    """A request's user, context and behaviour are encoded once and expanded to every row."""
    events = event_table(tiny_platform.events)
    entities = Entities.from_catalog(tiny_platform.catalog)
    split = build_platform_split(events, entities, ("click",), ratios=(0.8, 0.2))
    raw = split.raw["valid"]
    row = int(np.flatnonzero(raw.activity > 0)[0])
    user, ts = str(raw.user_id[row]), float(raw.ts[row])
    recent = [
        (str(raw.history_items[i]), float(t))
        for i, t in zip(raw.history[row], raw.history_ts[row], strict=True)
        if i >= 0
    ]
    profile = Profile(user, recent=recent)
    items = sorted({str(i) for i in raw.item_id.tolist()})[:30] + ["new-item"]
    rows = online_rows(Request(user, scene="feed", ts=ts), profile, items, 8)
    assert rows.one_request()
    together = split.features.encode(rows, entities)
    alone = [split.features.encode(rows.take(slice(k, k + 1)), entities) for k in range(len(items))]
    for name, codes in together.items():
        assert codes.tolist() == torch.cat([a[name] for a in alone]).tolist(), name
