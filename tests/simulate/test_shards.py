"""A simulation shared out over worker processes: complete, reproducible, profiles handed back."""

from __future__ import annotations

import shutil

import pytest

from ecorec.core.config import load_config
from ecorec.core.events import EventType
from ecorec.data.stores import Stores
from ecorec.simulate import Simulation
from ecorec.simulate.shards import ShardPool
from tests.metrics.health_log import approx_tree
from tests.simulate.test_simulation import POLICIES, SIM, platform  # noqa: F401 (fixture)

SHARDED = SIM.model_copy(update={"workers": 2})


def _run(platform, folder):  # noqa: F811
    shutil.copytree(platform, folder)
    config = load_config(None, {"storage": {"database_url": f"sqlite:///{folder / 'ecorec.db'}"}})
    with Stores(config.storage) as stores:
        result = Simulation(SHARDED, config, stores, POLICIES).run()
        events = list(stores.events.scan(result["simulation"]["start"]))
        clicked = {}
        for e in events:
            if e.type == EventType.CLICK and e.item_id:
                clicked.setdefault(e.user_id, set()).add(e.item_id)
        recent = {u: {item for item, _ in stores.profiles.get(u).recent} for u in clicked}
    return result, events, clicked, recent


@pytest.fixture(scope="module")
def sharded(platform, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("shards")
    return _run(platform, tmp / "a"), _run(platform, tmp / "b")


def test_same_seed_and_workers_same_run(sharded):
    (a, events_a, _, _), (b, events_b, _, _) = sharded
    untimed = lambda r: {k: v for k, v in r.items() if k != "timing"}  # noqa: E731
    assert untimed(a) == approx_tree(untimed(b))
    key = lambda e: e.event_id  # noqa: E731  (workers append in whatever order they finish)
    assert [(e.event_id, e.type, e.ts) for e in sorted(events_a, key=key)] == [
        (e.event_id, e.type, e.ts) for e in sorted(events_b, key=key)
    ]


def test_every_worker_serves_its_users_and_every_request_is_counted(sharded):
    (result, events, _, _), _ = sharded
    impressions = [e for e in events if e.type == EventType.IMPRESSION]
    requests = {e.request_id for e in impressions}
    assert len(requests) == sum(arm["requests"] for arm in result["arms"].values()) > 100
    assert {r.split("-")[0] for r in requests} == {"sim4w0", "sim4w1"}
    assert sum(arm["users"] for arm in result["arms"].values()) == SIM.users
    assert result["timing"]["workers"] == 2
    assert 0 < result["timing"]["pipeline_seconds"] <= result["timing"]["serving_seconds"]


def test_workers_hand_their_users_profiles_back(sharded):
    (_, _, clicked, recent), _ = sharded
    assert len(clicked) > 10
    # the parent's in-process store now holds what each worker's users clicked
    assert all(items <= recent[user] for user, items in clicked.items())


def test_workers_need_the_in_process_pipeline_and_a_shared_database(tmp_path):
    config = load_config(None, {"storage": {"database_url": f"sqlite:///{tmp_path / 'x.db'}"}})
    with Stores(config.storage) as stores, pytest.raises(ValueError, match="workers = 1"):
        Simulation(SHARDED, config, stores, server_factory=lambda p, c: None)  # type: ignore[arg-type,return-value]
    memory = load_config(None, {"storage": {"database_url": "sqlite:///:memory:"}})
    sim = Simulation(SHARDED, memory, Stores(memory.storage))
    sim.start, sim.arms = 0.0, []
    with pytest.raises(ValueError, match=":memory:"), ShardPool(sim):
        pass
