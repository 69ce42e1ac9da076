"""A simulation over several processes: the users shared out, the world kept in one place.

The Pipeline is Python that holds the GIL, so one process serves one request at a time on one
core. With ``SimConfig.workers = W`` the parent keeps what is shared (creators publishing,
advertisers' budgets and ROI, the catalog) and W worker processes each serve the sessions of
every W-th user through their own copy of every arm's pipeline, loaded from the registry the
parent trained into. Each day:

1. the parent publishes the creators' items (catalog and world) and sends them, with the
   advertisers' budgets, to every worker;
2. each worker retrains the refreshed channels on the log (every worker flushed yesterday's
   events before answering, so each reads the whole day), makes the items servable, spends
   its 1/W of each budget, runs its users' sessions and flushes their events;
3. the parent sums the workers' tallies (creator exposure and income, ad spend, conversions,
   surveys, requests) and lets creators and advertisers take stock.

What differs from one process, and why it is acceptable: each worker's bandits and pacing
learn from its own traffic only, as separate serving replicas without shared state do; the
random streams are per worker, so a run is reproducible for a given seed *and* worker count.
Profiles: with the in-process profile store, workers start from the parent's snapshot and hand
their users' profiles back at the end; a Redis store is simply shared.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ecorec.core.config import EcorecConfig
from ecorec.core.entities import Item
from ecorec.core.heap import freeze_heap
from ecorec.data.profiles.memory import MemoryProfileStore, profile_from_dict, profile_to_dict
from ecorec.data.stores import Stores
from ecorec.simulate.config import SimConfig
from ecorec.simulate.runner import Simulation, shard_users

if TYPE_CHECKING:
    from ecorec.simulate.policies import Policy


class ShardPool:
    """The parent's side: W worker processes, driven one day at a time.

    Example:
        >>> with ShardPool(simulation) as pool:  # doctest: +SKIP
        ...     for day in range(days):
        ...         pool.day(day)
        ...     pool.finish()

    """

    def __init__(self, sim: Simulation) -> None:
        if ":memory:" in sim.base.storage.database_url:
            raise ValueError("workers > 1 share the database: use a file or a server, not :memory:")
        self.sim = sim
        self.budgets: list[dict[str, float] | None] = [None] * len(sim.arms)
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="ecorec-shards-")

    def __enter__(self) -> ShardPool:
        sim = self.sim
        base, snapshot = sim.base, None
        if isinstance(sim.stores.profiles, MemoryProfileStore):
            # workers start from the profiles as they are now, and keep theirs to themselves
            snapshot = sim.stores.profiles.snapshot(Path(self._tmp.name) / "profiles.json")
            storage = base.storage.model_copy(update={"profiles_url": "memory://"})
            base = base.model_copy(update={"storage": storage})
        config = sim.config.model_copy(update={"start": sim.start})
        context = multiprocessing.get_context("spawn")
        for shard in range(sim.config.workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_work,
                args=(child, config, base, sim.policies, shard, snapshot),
                name=f"ecorec-sim-{shard}",
                daemon=True,
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self._gather()  # every worker has loaded its pipelines
        return self

    def day(self, day: int) -> None:
        """Publish, let every worker serve its users' day, then let the agents take stock."""
        sim = self.sim
        published = sim.publish_day(day)
        for conn in self.conns:
            conn.send(("day", day, published, self.budgets))
        tallies = self._gather()
        for index, arm in enumerate(sim.arms):
            parts = [t["arms"][index] for t in tallies]
            for name in ("exposure", "income", "conversions", "value"):
                getattr(arm, name)[:] = np.sum([p[name] for p in parts], axis=0)
            arm.requests += sum(p["requests"] for p in parts)
            for p in parts:
                arm.surveys.extend(p["surveys"])
            spend = np.sum([p["spend"] for p in parts], axis=0)
            self.budgets[index] = sim.take_stock(arm, spend)
        sim.active_days[day] = np.any([t["active"] for t in tallies], axis=0)

    def finish(self) -> None:
        """Collect who is still alive, the profiles and the time spent; stop the workers."""
        sim = self.sim
        for conn in self.conns:
            conn.send(("finish",))
        assert sim.users.alive is not None
        for shard, result in enumerate(self._gather()):
            mine = shard_users(len(sim.users), sim.config.workers, shard)
            sim.users.alive[mine] = result["alive"][mine]
            sim.pipeline_seconds += result["pipeline_seconds"]
            sim.serving_seconds += result["serving_seconds"]
            store = sim.stores.profiles
            if isinstance(store, MemoryProfileStore):
                for data in result["profiles"]:
                    store.put(profile_from_dict(data))

    def _gather(self) -> list[dict[str, Any]]:
        out = []
        for shard, conn in enumerate(self.conns):
            try:
                kind, payload = conn.recv()
            except EOFError:
                raise RuntimeError(
                    f"simulation worker {shard} died (out of memory? killed?)"
                ) from None
            if kind == "error":
                raise RuntimeError(f"simulation worker {shard} failed:\n{payload}")
            out.append(payload)
        return out

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            proc.join(timeout=10 if kind is None else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._tmp.cleanup()


def _work(
    conn: Connection,
    config: SimConfig,
    base: EcorecConfig,
    policies: list[Policy],
    shard: int,
    snapshot: Path | None,
) -> None:
    """A worker's life: load the pipelines, then serve days until told to finish."""
    try:
        import torch

        torch.set_num_threads(1)  # one request at a time: threads would only contend
        with Stores(base.storage) as stores:
            if snapshot is not None:
                stores.profiles.restore(snapshot)  # type: ignore[attr-defined]
            sim = Simulation(config, base, stores, policies, shard=shard)
            sim._setup()
            sim.active_days = np.zeros((config.days, len(sim.users)), bool)
            freeze_heap()
            conn.send(("ready", {}))
            while True:
                message = conn.recv()
                if message[0] == "finish":
                    conn.send(("done", _final(sim, snapshot is not None)))
                    return
                _, day, published, budgets = message
                conn.send(("day", _serve_day(sim, day, published, budgets)))
    except Exception:  # the parent raises it with the worker's traceback
        conn.send(("error", traceback.format_exc()))


def _serve_day(
    sim: Simulation,
    day: int,
    published: list[list[Item]],
    budgets: list[dict[str, float] | None],
) -> dict[str, Any]:
    started = time.perf_counter()
    if day > 0:
        for arm in sim.arms:  # every worker flushed yesterday's events before answering
            arm.server.refresh(sim.config.refresh)
    for items in published:
        if items:
            sim.world.add_items(items)
    sim.serve_items(published)
    before = []
    for arm, owed in zip(sim.arms, budgets, strict=True):
        if owed is not None:
            arm.server.set_budgets(sim.share(owed))
        arm.reset_day()
        before.append((arm.requests, len(arm.surveys)))
    sim.run_sessions(day)
    arms = []
    for arm, (requests, surveys) in zip(sim.arms, before, strict=True):
        arm.server.flush()
        arms.append(
            {
                "exposure": arm.exposure,
                "income": arm.income,
                "conversions": arm.conversions,
                "value": arm.value,
                "spend": arm.server.day_spend(arm.advertisers.ids),
                "requests": arm.requests - requests,
                "surveys": arm.surveys[surveys:],
            }
        )
    freeze_heap()
    sim.serving_seconds += time.perf_counter() - started
    return {"arms": arms, "active": sim.active_days[day] & sim.mine}


def _final(sim: Simulation, profiles: bool) -> dict[str, Any]:
    ids = [uid for uid, mine in zip(sim.users.ids, sim.mine, strict=True) if mine]
    store = sim.stores.profiles
    return {
        "alive": sim.users.alive,
        "pipeline_seconds": sum(arm.server.pipeline_seconds for arm in sim.arms),
        "serving_seconds": sim.serving_seconds,
        "profiles": [profile_to_dict(store.get(uid)) for uid in ids] if profiles else [],
    }


__all__ = ["ShardPool"]
