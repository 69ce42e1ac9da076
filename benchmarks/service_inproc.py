"""In-process half of ``benchmarks/service_load.py``: the service's work without HTTP.

* :func:`in_process`: the pipeline ``ecorec serve`` builds (``build_pipeline`` over the same
  stores and config), called directly on random known users, each stage timed, then the
  impressions' durable append the recommend route adds; as loaded, then after ``gc.freeze()``;
  optionally a cProfile of the frozen requests (the functions that cost the most).
* :func:`ingest_breakdown`: one ``POST /v1/events`` batch's steps (validation, the duplicate
  check, the durable append, the profile update) timed on batches like the load test's.
"""

from __future__ import annotations

import copy
import cProfile
import gc
import io
import pstats
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(ms: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    if not len(a):
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    out = {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}
    out["max"] = round(float(a.max()), 2)
    return out


class Timed:
    """Wraps a stage (channel, merge, ranker, re-ranker, profile store) and times each call."""

    def __init__(self, stage: Any, method: str = "__call__") -> None:
        self.stage = stage
        self.method = getattr(stage, method)
        self.name = getattr(stage, "name", type(stage).__name__)
        self.personalized = getattr(stage, "personalized", False)
        self.ms: list[float] = []

    def _timed(self, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.method(*args)
        finally:
            self.ms.append((time.perf_counter() - started) * 1000)

    __call__ = _timed

    def get(self, *args: Any) -> Any:
        return self._timed(*args)


def open_service(setup: dict[str, Any]) -> tuple[Any, Any]:
    """The config and stores ``ecorec serve --db DB --config load.toml`` would open."""
    from ecorec.cli.common import config_for
    from ecorec.data.stores import Stores

    config = config_for(Path(setup["folder"]) / "load.toml", setup["db"])
    return config, Stores(config.storage)


def top_functions(profile: cProfile.Profile, count: int = 25) -> list[list[Any]]:
    """``[function, calls, own ms, cumulative ms]`` of the ``count`` costliest by own time."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}({name})"
        rows.append([where, calls, round(own * 1000, 1), round(cumulative * 1000, 1)])
    return sorted(rows, key=lambda r: -r[2])[:count]


def route_events(pipeline: Any) -> Any:
    """``(request, slate) -> events`` the recommend route appends (its module has moved)."""
    try:
        from ecorec.slate_events import slate_events
    except ImportError:  # before the simulator shared it
        from ecorec.service.routes.recommend import impressions  # type: ignore[attr-defined]

        return lambda request, slate: impressions(slate, request.user_id, "feed", request.ts)
    return lambda request, slate: slate_events(request, slate, pipeline)


def in_process(setup: dict[str, Any], args: Any) -> dict[str, Any]:
    """Latency of the service's pipeline called directly, per stage, as loaded and frozen."""
    import torch

    from ecorec.core.contracts import Request
    from ecorec.factory import build_pipeline

    torch.set_num_threads(1)
    config, stores = open_service(setup)
    started = time.perf_counter()
    pipeline: Any = build_pipeline(config, stores, train_missing=False)  # stages get wrapped
    load_s = time.perf_counter() - started
    logged_events = route_events(copy.copy(pipeline))  # the stages before they are wrapped
    stages = {"profile": Timed(pipeline.profiles, "get"), "merge": Timed(pipeline.merge)}
    pipeline.profiles = stages["profile"]
    pipeline.merge = stages["merge"]
    pipeline.channels = [Timed(c) for c in pipeline.channels]
    pipeline.ranker = Timed(pipeline.ranker)
    pipeline.rerankers = [Timed(r) for r in pipeline.rerankers]
    for stage in (*pipeline.channels, pipeline.ranker, *pipeline.rerankers):
        stages[f"{stage.name}"] = stage
    users = Path(setup["folder"], "users.txt").read_text().split()
    rng = random.Random(args.seed)

    def request(tag: str) -> Any:
        return Request(rng.choice(users), n=args.n, request_id=tag, ts=time.time())

    out: dict[str, Any] = {"load_s": round(load_s, 1)}
    for k in range(args.inproc_warmup):
        pipeline(request(f"warm-{k}"))
    for phase in ("as_loaded", "gc_frozen"):
        if phase == "gc_frozen":
            gc.collect()
            gc.freeze()
        for stage in stages.values():
            stage.ms.clear()
        total, logged, fallbacks = [], [], 0
        for k in range(args.requests):
            r = request(f"{phase}-{k}")
            t0 = time.perf_counter()
            slate = pipeline(r)
            t1 = time.perf_counter()
            stores.events.append(logged_events(r, slate))
            total.append((t1 - t0) * 1000)
            logged.append((time.perf_counter() - t1) * 1000)
            fallbacks += bool(slate.stages.get("fallbacks"))
        out[phase] = {
            **percentiles(total),
            "impressions_append": percentiles(logged),
            "with_append": percentiles(np.add(total, logged)),
            "fallback_requests": fallbacks,
            "stages_p50_p99": {
                name: [percentiles(s.ms)["p50"], percentiles(s.ms)["p99"]]
                for name, s in stages.items()
                if s.ms
            },
        }
        log(f"  in-process {phase}: {percentiles(total)}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for k in range(args.profile):
            pipeline(request(f"profile-{k}"))
        profile.disable()
        out["profile_top_own_ms"] = {"requests": args.profile, "rows": top_functions(profile)}
    gc.unfreeze()
    stores.close()
    return out


def ingest_breakdown(setup: dict[str, Any], args: Any, batches: int = 20) -> dict[str, Any]:
    """Median ms of each step of ``POST /v1/events`` on ``batches`` batches of ``args.batch``."""
    from ecorec.data.lookup import ItemLookup
    from ecorec.data.profiles.delta import deltas_from_events
    from ecorec.service.privacy import DeletionLog, reject_deleted
    from ecorec.service.routes.events import _unique, check_batch
    from ecorec.service.schemas import EventBatch

    config, stores = open_service(setup)
    deletions = DeletionLog(config.storage.database_url)
    lookup = ItemLookup.from_catalog(stores.catalog)
    users = Path(setup["folder"], "users.txt").read_text().split()
    items = Path(setup["folder"], "items.txt").read_text().split()
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:8]
    db = setup["db"].removeprefix("sqlite:///")
    by_key = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if db != setup["db"] else None
    steps: dict[str, list[float]] = {}

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        steps.setdefault(name, []).append((now - started) * 1000)
        return now

    for b in range(batches):
        raw = [
            {
                "event_id": f"inproc-{run}-{b}-{k}",
                "ts": time.time(),
                "user_id": rng.choice(users),
                "type": "click",
                "item_id": rng.choice(items),
            }
            for k in range(args.batch)
        ]
        t = time.perf_counter()
        body = EventBatch.model_validate({"events": raw})
        t = timed("parse (pydantic)", t)
        events, problems = check_batch(body.events)
        assert not problems, problems
        t = timed("validate", t)
        events, _ = reject_deleted(_unique(events), deletions)
        t = timed("erased-user check", t)
        known = stores.events.stored(e.event_id for e in events)
        t = timed("duplicate check (EventLog.stored)", t)
        if by_key is not None:  # not part of the route: what one primary-key query costs
            ids = [e.event_id for e in events]
            by_key.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
            t = timed("(one primary-key IN query instead)", t)
        stores.events.append([e for e in events if e.event_id not in known])
        t = timed("durable append", t)
        for user_id, delta in deltas_from_events(events, lookup).items():
            stores.profiles.apply(user_id, delta)
        timed("profile update", t)
    deletions.close()
    stores.close()
    if by_key is not None:
        by_key.close()
    out = {name: round(float(np.median(ms)), 2) for name, ms in steps.items()}
    out["total"] = round(sum(v for k, v in out.items() if not k.startswith("(")), 2)
    out["events_per_s_one_writer"] = round(args.batch / out["total"] * 1000)
    log(f"  ingest breakdown (batch {args.batch}, median ms): {out}")
    return out
