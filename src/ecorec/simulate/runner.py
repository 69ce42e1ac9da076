"""Run a simulation: days of sessions through the real Pipeline, logged like real traffic.

Each simulated day:

1. every arm's creators publish (items written to the catalog and made servable);
2. users draw their sessions (:meth:`UserAgents.sessions`); sessions run in start-time order,
   each a few feed requests. A request goes through the arm's Pipeline in-process (or the
   service over HTTP, :mod:`.server`); its impressions are the ones
   :func:`ecorec.slate_events.slate_events` builds, the user's reactions come from
   :meth:`World.respond`, and both go to the EventLog; reactions also update the profile at
   once (:func:`~ecorec.data.profiles.delta.deltas_from_events`), as ``POST /v1/events`` does,
   so the real-time loop is exercised;
3. users churn, drift and recover; creators and advertisers take stock of the day;
4. the channels named in ``refresh`` retrain on the log (a daily batch job).

Results per arm come from :func:`ecorec.metrics.health.compute_health` over the arm's users'
events of the simulated window, plus the agents' own counts (retention, creator retention,
budget cuts, NPS).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ecorec.core.config import EcorecConfig
from ecorec.core.entities import Ad, Advertiser, Creator, CreatorStage, Item, User
from ecorec.core.events import Event, EventType
from ecorec.core.heap import freeze_heap
from ecorec.data.lookup import ItemLookup
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec
from ecorec.metrics.health import catalog_tables, compute_health, latest_ts
from ecorec.simulate.advertisers import AdvertiserAgents
from ecorec.simulate.config import SimConfig
from ecorec.simulate.creators import STAGES, CreatorAgents, creators_from_catalog
from ecorec.simulate.environment import World
from ecorec.simulate.policies import Policy, assign_arms, check_names
from ecorec.simulate.publish import publish
from ecorec.simulate.results import comparison, events_of, nps
from ecorec.simulate.server import InProcessServer, Server
from ecorec.simulate.users import users_from_catalog

DAY = 86_400.0


def shard_users(users: int, workers: int, shard: int) -> np.ndarray:
    """Which of ``users`` (by index) worker ``shard`` of ``workers`` serves: every W-th one."""
    mask: np.ndarray = np.arange(users) % workers == shard
    return mask


class Arm:
    """One policy's share of the world: its server, creators, advertisers and counters."""

    def __init__(
        self, policy: Policy, server: Server, creators: CreatorAgents, ads: AdvertiserAgents
    ) -> None:
        self.policy = policy
        self.server = server
        self.creators = creators
        self.advertisers = ads
        self.requests = 0
        self.surveys: list[float] = []
        self.exposure = np.zeros(len(creators))
        self.income = np.zeros(len(creators))
        self.spend = np.zeros(len(ads.ids))
        self.conversions = np.zeros(len(ads.ids))
        self.value = np.zeros(len(ads.ids))

    def reset_day(self) -> None:
        self.exposure[:] = 0
        self.income[:] = 0
        self.spend[:] = 0
        self.conversions[:] = 0
        self.value[:] = 0


class Simulation:
    """A configured run over ``stores``; :meth:`run` returns the JSON-able results.

    Example:
        >>> with Stores(config.storage) as stores:  # doctest: +SKIP
        ...     result = Simulation(SimConfig(users=300, days=3), config, stores).run()

    """

    def __init__(
        self,
        config: SimConfig,
        base: EcorecConfig,
        stores: Stores,
        policies: list[Policy] | None = None,
        server_factory: Callable[[Policy, EcorecConfig], Server] | None = None,
        progress: Callable[[int], None] | None = None,
        on_train: Callable[[str], None] | None = None,
        shard: int | None = None,
    ) -> None:
        if config.workers > 1 and server_factory is not None:
            raise ValueError(
                "workers > 1 runs the pipeline in-process in each worker; "
                "a simulation against a service (--url) runs with workers = 1"
            )
        self.config = config
        self.base = base
        self.stores = stores
        self.policies = policies or [Policy(name="baseline")]
        check_names(self.policies)
        self.server_factory = server_factory
        self.progress = progress or (lambda _n: None)
        self.on_train = on_train
        #: which share of the users this process serves (a worker of :mod:`.shards`)
        self.shard = shard
        stream = [config.seed, 7] if shard is None else [config.seed, 7, shard, config.workers]
        self.rng = np.random.default_rng(stream)
        self.pipeline_seconds = 0.0  # in pipeline(...), summed over workers
        self.serving_seconds = 0.0  # in the sessions' loop, summed over workers

    # -- set-up ----------------------------------------------------------------------------

    def _setup(self) -> None:
        cfg, catalog = self.config, self.stores.catalog
        advertisers = list(catalog.scan(Advertiser))
        ads = list(catalog.scan(Ad))
        creators = creators_from_catalog(
            list(catalog.scan(Creator)), PlatformSpec().topics, cfg.creators, cfg.seed, cfg.creator
        )
        known = set(catalog.ids(Creator))
        catalog.put(
            [
                Creator(
                    c,
                    stage=CreatorStage(STAGES[int(creators.stage[k])]),
                    quality=round(float(creators.quality[k]), 4),
                    category=PlatformSpec().topics[int(creators.focus[k])],
                    output_rate=round(float(creators.output_rate[k]), 4),
                )
                for k, c in enumerate(creators.ids)
                if c not in known
            ]
        )
        self.world = World.from_entities(list(catalog.scan(Item)), ads, advertisers, creators.ids)
        self.ads = ads
        newest = latest_ts(self.stores.events)
        start = cfg.start
        if start is None:
            start = math.floor(newest / DAY + 1) * DAY if newest else PlatformSpec().start_ts
        self.start = float(start)
        catalog_users = list(catalog.scan(User))
        self.users = users_from_catalog(
            catalog_users,
            self.world.topics,
            cfg.users,
            cfg.seed,
            self.start,
            cfg.days,
            cfg.user,
        )
        self.mine = (
            shard_users(len(self.users), cfg.workers, self.shard)
            if self.shard is not None
            else np.ones(len(self.users), bool)
        )
        self.lookup = ItemLookup.from_catalog(catalog)
        weights = [p.weight for p in self.policies]
        self.arm_of = assign_arms(self.users.ids, weights, cfg.seed)
        total = sum(weights)
        self.arms = []
        self.train_seconds = 0.0
        for policy in self.policies:
            started = time.perf_counter()
            config = policy.config(self.base)
            server = (
                self.server_factory(policy, config)
                if self.server_factory is not None
                else InProcessServer.build(config, self.stores, self.lookup, self.on_train)
            )
            self.train_seconds += time.perf_counter() - started
            server.know_users(catalog_users)
            agents = AdvertiserAgents.of(advertisers, cfg.advertiser, policy.weight / total)
            budgets = self.share(dict(zip(agents.ids, agents.budget.tolist(), strict=True)))
            server.set_budgets(budgets, advertisers, ads)
            self.arms.append(Arm(policy, server, creators.copy(), agents))

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Simulate every day and measure each arm."""
        started = time.perf_counter()
        self._setup()
        freeze_heap()
        loop_started = time.perf_counter()
        self.active_days = np.zeros((self.config.days, len(self.users)), bool)
        if self.config.workers > 1:
            from ecorec.simulate.shards import ShardPool

            with ShardPool(self) as pool:
                for day in range(self.config.days):
                    pool.day(day)
                    self.progress(1)
                pool.finish()
        else:
            for day in range(self.config.days):
                self._day(day)
                self.progress(1)
            for arm in self.arms:
                arm.server.flush()
            self.pipeline_seconds = sum(arm.server.pipeline_seconds for arm in self.arms)
            self.serving_seconds = time.perf_counter() - loop_started
        loop = time.perf_counter() - loop_started
        pipeline, serving = self.pipeline_seconds, self.serving_seconds
        measured = time.perf_counter()
        arms = {arm.policy.name: self._results(index, arm) for index, arm in enumerate(self.arms)}
        return {
            "simulation": {
                **self.config.model_dump(
                    mode="json", include={"users", "creators", "days", "seed"}
                ),
                "start": self.start,
                "policies": [p.name for p in self.policies],
            },
            "arms": arms,
            "comparison": comparison(arms),
            "timing": {
                "seconds": round(time.perf_counter() - started, 3),
                "setup_and_training_seconds": round(self.train_seconds, 3),
                "loop_seconds": round(loop, 3),
                "pipeline_seconds": round(pipeline, 3),
                "workers": self.config.workers,
                "serving_seconds": round(serving, 3),
                # the share of the serving processes' time not spent in the pipeline
                "simulator_overhead_share": (
                    round(1 - pipeline / serving, 4) if serving > 0 else None
                ),
                "metrics_seconds": round(time.perf_counter() - measured, 3),
                "requests": sum(arm.requests for arm in self.arms),
            },
        }

    def _day(self, day: int) -> None:
        """One day in one process: publish, sessions, then every arm takes stock."""
        self.serve_items(self.publish_day(day))
        self.run_sessions(day)
        for arm in self.arms:
            spend = arm.server.day_spend(arm.advertisers.ids)
            arm.server.set_budgets(self.take_stock(arm, spend))
            arm.server.flush()
            arm.server.refresh(self.config.refresh)
        freeze_heap()

    def publish_day(self, day: int) -> list[list[Item]]:
        """Each arm's creators publish today's items into the catalog and the world."""
        cfg, published = self.config, []
        for index, arm in enumerate(self.arms):
            items = publish(
                arm.creators, self.world, self.rng, self.start + day * DAY,
                f"s{cfg.seed}-a{index}-d{day}",
            )  # fmt: skip
            if items:
                self.stores.catalog.put(items)
                self.world.add_items(items)
            published.append(items)
            arm.reset_day()
        return published

    def serve_items(self, published: list[list[Item]]) -> None:
        """Make newly published items servable by every arm (the world already has them)."""
        for items in published:
            for item in items:
                self.lookup.info[item.item_id] = (item.category, item.creator_id)
            if items:
                for arm in self.arms:
                    arm.server.add_items(items)

    def run_sessions(self, day: int) -> None:
        """Today's sessions of this process's users, in start-time order; then users' nights."""
        cfg, users, rng = self.config, self.users, self.rng
        day_start, day_end = self.start + day * DAY, self.start + (day + 1) * DAY
        counts = np.where(self.mine, users.sessions(day_start, day_end, rng), 0)
        owners = np.repeat(np.arange(len(users)), counts)
        begin = np.maximum(users.joined[owners], day_start)
        starts = begin + rng.random(len(owners)) * (day_end - begin)
        satisfaction = np.zeros(len(users))
        order = np.argsort(starts, kind="stable")
        r = self.world.spec.response
        tag = f"sim{cfg.seed}" if self.shard is None else f"sim{cfg.seed}w{self.shard}"
        for k, s in enumerate(order):
            u = int(owners[s])
            n_requests = min(int(rng.geometric(1.0 / r.mean_requests)), r.max_requests)
            arm = self.arms[int(self.arm_of[u])]
            utility = 0.0
            for j in range(n_requests):
                ts = float(starts[s]) + (j + rng.random() / 2) * r.request_gap
                rid = f"{tag}-{day:03d}-{k:07d}-{j:02d}"
                utility += self._request(arm, u, rid, ts)
            users.end_session(u, utility / n_requests)
            satisfaction[u] += utility / n_requests
            answer = users.survey(u, rng)
            if answer is not None:
                arm.surveys.append(answer)
                arm.server.feedback(
                    [
                        Event(
                            f"{tag}-{day:03d}-{k:07d}:sv",
                            float(starts[s]) + 600.0,
                            users.ids[u],
                            EventType.SURVEY,
                            value=answer,
                        )
                    ]
                )
        active = counts > 0
        self.active_days[day] = active
        mean = np.where(active, satisfaction / np.maximum(counts, 1), 0.0)
        users.end_day(mean, active, self.world.spec.response.churn_rate, rng)

    def _request(self, arm: Arm, u: int, rid: str, ts: float) -> float:
        """Serve one request, draw the reactions, log both; return the request's utility."""
        users = self.users
        slots = arm.server.recommend(users.ids[u], rid, ts, self.config.slate_size)
        arm.requests += 1
        reaction = self.world.respond(users, u, rid, ts, slots, self.rng)
        for c in reaction.creators_shown:
            arm.exposure[c] += 1
        for c, money in reaction.creator_income.items():
            arm.income[c] += money
        for ad_id in reaction.ad_clicks:
            arm.server.record_click(rid, ad_id, ts)
        for adv, (count, value) in reaction.conversions.items():
            if adv >= 0:
                arm.conversions[adv] += count
                arm.value[adv] += value
        arm.server.feedback(reaction.events)
        return reaction.utility

    def take_stock(self, arm: Arm, spend: np.ndarray) -> dict[str, float]:
        """Creators and advertisers end the arm's day; returns tomorrow's budgets."""
        arm.creators.end_day(arm.exposure, arm.income)
        arm.advertisers.end_day(spend, arm.conversions, arm.value)
        return dict(zip(arm.advertisers.ids, arm.advertisers.budget.tolist(), strict=True))

    def share(self, budgets: dict[str, float]) -> dict[str, float]:
        """The part of each daily budget this process may spend: a worker's share of users'."""
        if self.shard is None:
            return budgets
        return {owner: budget / self.config.workers for owner, budget in budgets.items()}

    # -- results ---------------------------------------------------------------------------

    def _results(self, index: int, arm: Arm) -> dict[str, Any]:
        mine = self.arm_of == index
        ids = [uid for uid, keep in zip(self.users.ids, mine, strict=True) if keep]
        end = self.start + self.config.days * DAY
        table = events_of(self.stores, ids, self.start, end)
        if not hasattr(self, "_tables"):
            self._tables = catalog_tables(self.stores.catalog)
        health = (
            compute_health(table, self._tables, window=f"{self.config.days}d", now=end)
            if table.num_rows
            else {}
        )
        active = self.active_days[:, mine]
        assert self.users.alive is not None
        d1 = active[1:] & active[:-1]
        return {
            "users": int(mine.sum()),
            "requests": arm.requests,
            "retention": {
                "retention_alive": float(self.users.alive[mine].mean()) if mine.any() else None,
                "retention_d1": float(d1.sum() / active[:-1].sum()) if active[:-1].any() else None,
                "active_last_day": float(active[-1].mean()) if mine.any() else None,
            },
            "nps": nps(arm.surveys),
            "surveys": len(arm.surveys),
            "creators": arm.creators.summary(),
            "advertisers": arm.advertisers.summary(),
            "health": {
                k: health[k]
                for k in ("user_value", "ecosystem", "business", "fairness")
                if k in health
            },
        }


__all__ = ["Arm", "Simulation", "shard_users"]
