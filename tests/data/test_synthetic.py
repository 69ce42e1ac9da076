"""The synthetic platform: determinism, sizes, ids, and known properties of its response model."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from ecorec.core.entities import Ad, Advertiser, Creator, Item, User, entity_id
from ecorec.core.events import EventType, validate_event
from ecorec.data.events import EVENT_SCHEMA, table_to_events, validate_table
from ecorec.data.synthetic import (
    PlatformSpec,
    ResponseParams,
    advertisers_and_ads,
    iter_entities,
    iter_event_tables,
    write_platform,
)
from ecorec.data.synthetic.columns import ExtraTemplate, format_extra
from ecorec.data.synthetic.ids import format_ids
from ecorec.data.synthetic.latents import make_creators, make_items, make_user_block
from ecorec.data.synthetic.policy import TopicSampler
from ecorec.data.synthetic.response import affinity

# Several user blocks, a few days, ads on: big enough for the statistics below, still < 1 s.
TINY = PlatformSpec(
    users=600, items=800, creators=40, advertisers=5, days=6, seed=3, user_block=250
)


@pytest.fixture(scope="module")
def history() -> pa.Table:
    return pa.concat_tables(iter_event_tables(TINY))


@pytest.fixture(scope="module")
def entities() -> list:
    return [e for block in iter_entities(TINY) for e in block]


def _of(table: pa.Table, kind: EventType, on: str = "item_id") -> pa.Table:
    return table.filter(pc.and_(pc.equal(table["type"], kind.value), pc.is_valid(table[on])))


def _index(ids: pa.ChunkedArray) -> np.ndarray:
    """u0000123 -> 123."""
    return np.array([int(s[1:]) for s in ids.to_pylist()], dtype=np.int64)


def _gini(x: np.ndarray) -> float:
    x = np.sort(x)
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


# --- spec ---------------------------------------------------------------------------------


def test_spec_rejects_unknown_keys_and_bad_topics() -> None:
    with pytest.raises(ValidationError):
        PlatformSpec(users=10, colour="red")
    with pytest.raises(ValidationError):
        PlatformSpec(response={"click_bias": 1.0, "nope": 2})
    with pytest.raises(ValidationError):
        PlatformSpec(topics=("news", "news"))
    assert PlatformSpec().start.isoformat() == "2026-01-01T00:00:00+00:00"
    assert len(PlatformSpec().topics) == 20


# --- determinism and chunking ----------------------------------------------------------------


def test_same_seed_gives_identical_tables_whatever_the_chunk_size(history: pa.Table) -> None:
    small = TINY.model_copy(update={"chunk_size": 97})
    tables = list(iter_event_tables(small))
    assert max(t.num_rows for t in tables) <= 97
    assert pa.concat_tables(tables).equals(history)
    again = pa.concat_tables(iter_event_tables(TINY))
    assert again.equals(history)


def test_different_seed_gives_different_history(history: pa.Table) -> None:
    other = pa.concat_tables(iter_event_tables(TINY.model_copy(update={"seed": 4})))
    assert not other.equals(history)
    assert set(other["event_id"].to_pylist()).isdisjoint(history["event_id"].to_pylist())


def test_catalog_is_deterministic(entities: list) -> None:
    blocks = list(iter_entities(TINY, block=100))
    assert max(len(b) for b in blocks) <= TINY.user_block  # catalog streams in bounded lists
    again = [e for block in blocks for e in block]
    assert again == entities
    assert [e.attrs for e in again] == [e.attrs for e in entities]


def test_tables_are_sorted_by_time_and_in_the_schema() -> None:
    for table in iter_event_tables(TINY):
        assert table.schema.equals(EVENT_SCHEMA)
        ts = table["ts"].to_numpy()
        assert np.all(np.diff(ts) >= 0)


# --- sizes and ids ---------------------------------------------------------------------------


def test_catalog_sizes_and_unique_ids(entities: list) -> None:
    by_kind = {kind: [e for e in entities if type(e) is kind] for kind in (User, Creator, Item)}
    assert len(by_kind[User]) == TINY.users
    assert len(by_kind[Creator]) == TINY.creators
    assert len(by_kind[Item]) == TINY.items
    advertisers, ads = advertisers_and_ads(TINY)
    assert len(advertisers) == TINY.advertisers and len(ads) == TINY.ads
    ids = [entity_id(e) for e in entities]
    assert len(set(ids)) == len(ids)
    assert by_kind[User][123].user_id == "u0000123"
    assert by_kind[Item][42].item_id == "i0000042"
    assert by_kind[Creator][7].creator_id == "c00007"
    assert advertisers[3].advertiser_id == "adv0003" and ads[12].ad_id == "ad00012"
    assert {a.advertiser_id for a in ads} <= {a.advertiser_id for a in advertisers}
    creators = {c.creator_id for c in by_kind[Creator]}
    assert all(i.creator_id in creators for i in by_kind[Item])


def test_entities_carry_what_fairness_and_the_simulator_need(entities: list) -> None:
    users = [e for e in entities if isinstance(e, User)]
    assert {u.group for u in users} == set(TINY.population.groups)
    assert {u.region for u in users} <= set(TINY.population.regions)
    assert all(
        len(u.attrs["interests"]) == 3
        and set(u.attrs["consent"]) == {"personalization", "ads", "analytics"}
        for u in users
    )
    items = [e for e in entities if isinstance(e, Item)]
    assert all(abs(sum(i.attrs["topics"].values()) - 1.0) < 0.01 for i in items)
    assert all(i.category not in i.tags and 5 <= i.duration <= 3600 for i in items)
    assert [i.created_at for i in items] == sorted(i.created_at for i in items)
    json.dumps([e.attrs for e in entities])  # storable as JSON: no numpy scalars


def test_event_and_request_ids_are_unique(history: pa.Table) -> None:
    assert pc.count_distinct(history["event_id"]).as_py() == history.num_rows
    imps = history.filter(pc.equal(history["type"], "impression"))
    pairs = pc.binary_join_element_wise(
        imps["request_id"], pc.fill_null(imps["item_id"], imps["ad_id"]), "|"
    )
    assert pc.count_distinct(pairs).as_py() == imps.num_rows  # slates hold distinct items


def test_format_ids_builds_padded_and_null_ids() -> None:
    ids = format_ids("u", 7, np.array([0, 5, 123, 9_999_999]))
    assert ids.to_pylist() == ["u0000000", "u0000005", "u0000123", "u9999999"]
    masked = format_ids("x-", 3, np.array([1, 2, 3]), np.array([True, False, True]))
    assert masked.to_pylist() == ["x-001", None, "x-003"]


def test_extra_numbers_round_trip_through_json() -> None:
    values = np.array([1.0, 0.5, 1.23456e-5, 9.9996e-3, 3e-12])
    extra = format_extra(
        [ExtraTemplate(""), ExtraTemplate('{"p":', "sci", "}")], np.array([1, 1, 1, 1, 1]), values
    )
    parsed = [json.loads(text)["p"] for text in extra.to_pylist()]
    np.testing.assert_allclose(parsed, values, rtol=1e-3)


# --- contract of every event -----------------------------------------------------------------


def test_every_event_passes_validation(history: pa.Table) -> None:
    validate_table(history)
    for event in table_to_events(history.slice(0, 3000)):
        validate_event(event)
    kinds = set(history["type"].to_pylist())
    assert {"impression", "click", "play", "like", "not_interested"} <= kinds
    assert {
        json.loads(t)["channel"] for t in _of(history, EventType.IMPRESSION)["extra"].to_pylist()
    } == {"popular", "interest"}


def test_money_is_rounded_to_cents(history: pa.Table) -> None:
    money = history.filter(pc.is_in(history["type"], pa.array(["conversion", "tip", "subscribe"])))
    values = money["value"].to_numpy()
    np.testing.assert_allclose(values, np.round(values, 2))
    assert (values > 0).all()


# --- the response model ----------------------------------------------------------------------


def test_clicks_follow_impressions(history: pa.Table) -> None:
    imps, clicks = _of(history, EventType.IMPRESSION), _of(history, EventType.CLICK)
    plays = _of(history, EventType.PLAY)
    assert 0 < clicks.num_rows <= imps.num_rows
    assert plays.num_rows == clicks.num_rows
    shown = set(zip(imps["request_id"].to_pylist(), imps["item_id"].to_pylist(), strict=True))
    clicked = zip(clicks["request_id"].to_pylist(), clicks["item_id"].to_pylist(), strict=True)
    assert all(pair in shown for pair in clicked)
    ctr = clicks.num_rows / imps.num_rows
    assert 0.03 < ctr < 0.2


def test_click_rate_rises_with_affinity(history: pa.Table) -> None:
    imps = _of(history, EventType.IMPRESSION)
    clicks = _of(history, EventType.CLICK)
    clicked = set(zip(clicks["request_id"].to_pylist(), clicks["item_id"].to_pylist(), strict=True))
    label = np.array(
        [
            pair in clicked
            for pair in zip(
                imps["request_id"].to_pylist(), imps["item_id"].to_pylist(), strict=True
            )
        ]
    )
    user, item = _index(imps["user_id"]), _index(imps["item_id"])
    items = make_items(TINY, make_creators(TINY))
    a = np.empty(len(user))
    for block in range(TINY.user_blocks):
        users = make_user_block(TINY, block)
        rows = (user >= users.first) & (user < users.first + len(users))
        a[rows] = affinity(users, items, user[rows] - users.first, item[rows])
    low, high = np.quantile(a, [0.25, 0.75])
    assert label[a >= high].mean() > 2 * label[a <= low].mean()


def test_no_impression_before_the_item_exists(history: pa.Table) -> None:
    imps = _of(history, EventType.IMPRESSION)
    created = make_items(TINY, make_creators(TINY)).created_at
    assert (imps["ts"].to_numpy() > created[_index(imps["item_id"])]).all()


def test_no_event_before_the_user_joined(history: pa.Table, entities: list) -> None:
    joined = np.array([u.created_at for u in entities if isinstance(u, User)])
    assert (history["ts"].to_numpy() >= joined[_index(history["user_id"])]).all()


def test_exposure_is_heavy_tailed(history: pa.Table) -> None:
    imps = _of(history, EventType.IMPRESSION)
    counts = np.bincount(_index(imps["item_id"]), minlength=TINY.items).astype(float)
    assert 0.5 <= _gini(counts) <= 0.85
    top = np.sort(counts)[::-1][: TINY.items // 10].sum() / counts.sum()
    assert top > 0.3  # the top 10% of items take far more than 10% of impressions


def test_blocked_creators_are_not_shown_again() -> None:
    # Few creators and a block after every not_interested: without the filter, blocked
    # creators would come back within a day or two.
    spec = TINY.model_copy(
        update={"creators": 8, "response": ResponseParams(not_interested_rate=0.3, block_rate=1.0)}
    )
    history = pa.concat_tables(iter_event_tables(spec))
    blocks = _of(history, EventType.BLOCK_CREATOR, "creator_id")
    assert blocks.num_rows > 50
    day_end = {}
    for user, creator, ts in zip(
        blocks["user_id"].to_pylist(),
        blocks["creator_id"].to_pylist(),
        blocks["ts"].to_pylist(),
        strict=True,
    ):
        end = spec.start_ts + (int((ts - spec.start_ts) // 86_400) + 1) * 86_400
        day_end[(user, creator)] = min(end, day_end.get((user, creator), end))
    imps = _of(history, EventType.IMPRESSION)
    for user, creator, ts in zip(
        imps["user_id"].to_pylist(),
        imps["creator_id"].to_pylist(),
        imps["ts"].to_pylist(),
        strict=True,
    ):
        assert ts < day_end.get((user, creator), float("inf"))


def test_ads_are_shown_clicked_and_converted() -> None:
    spec = TINY.model_copy(update={"users": 3000, "user_block": 3000, "days": 3, "advertisers": 3})
    t = pa.concat_tables(iter_event_tables(spec))
    ad_imps, ad_clicks = _of(t, EventType.IMPRESSION, "ad_id"), _of(t, EventType.CLICK, "ad_id")
    conversions = _of(t, EventType.CONVERSION, "ad_id")
    assert 0 < conversions.num_rows < ad_clicks.num_rows < ad_imps.num_rows
    assert set(ad_imps["position"].to_pylist()) == {spec.response.ad_position}
    assert all("order_id" in json.loads(x) for x in conversions["extra"].to_pylist())


def test_propensities_of_the_mixture_policy_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    weights = np.concatenate([rng.random(30) + 0.1, np.zeros(5)])
    topic = np.concatenate([rng.integers(0, 3, 30), [3, 3, 3, 0, 1]])  # topic 3 has no weight
    sampler = TopicSampler(weights, topic, 4)
    interests = np.array([0.5, 0.2, 0.1, 0.2])
    index = np.arange(35)
    p = sampler.propensity(index, np.full(35, 0.6), interests[topic], np.full(35, interests[3]))
    assert p.sum() == pytest.approx(1.0)
    assert (p[30:] == 0).all()
    drawn = sampler.draw(rng.random(20_000))
    assert drawn.max() < 30


# --- writing to storage ----------------------------------------------------------------------


def test_write_platform_into_sqlite(tmp_path) -> None:
    catalog_module = pytest.importorskip("ecorec.data.catalog.sql")
    eventlog_module = pytest.importorskip("ecorec.data.eventlog.sqlite")
    spec = PlatformSpec(
        users=120, items=200, creators=10, advertisers=2, days=2, seed=5, chunk_size=500
    )
    path = tmp_path / "ecorec.db"
    catalog = catalog_module.SQLCatalog(f"sqlite:///{path}")
    log = eventlog_module.SQLiteEventLog(path)
    steps: list[tuple[int, int]] = []
    try:
        stats = write_platform(spec, catalog, log, progress=lambda d, t: steps.append((d, t)))
        assert (stats.users, stats.items, stats.creators) == (120, 200, 10)
        assert (stats.advertisers, stats.ads) == (2, 6)
        assert catalog.count(User) == 120 and catalog.count(Item) == 200
        assert catalog.count(Advertiser) == 2 and catalog.count(Ad) == 6
        assert log.count() == stats.total_events == stats.events_written
        assert log.count_by_type() == stats.events
        assert steps[-1][0] == steps[-1][1] == len(steps)
        again = write_platform(spec, catalog, log)  # same seed: every event id already there
        assert again.events_written == 0 and log.count() == stats.total_events
    finally:
        log.close()
        catalog.close()
