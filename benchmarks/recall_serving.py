"""Serving cost of recall: all channels + merge per request, on synthetic platforms by size.

For each size (items = users; creators = items / 50), a synthetic platform of a few days is
written into a fresh SQLite installation (catalog + event log), every registered channel is
trained from it with its configuration defaults, the sampled users' online profiles are
rebuilt from their events, and ~1,000 random users are served through the one
:class:`~ecorec.core.pipeline.Pipeline` (all channels, merge with the catalog filters,
ranker = :class:`RecallOrderRanker`). Reported per size:

* request latency p50/p95/p99 (ms, wall clock around ``pipeline(request)``, profile read
  included) and each channel's p99, after ``gc.freeze()`` as a server does once its models
  are loaded (the figures without it are kept under ``as_loaded``, with the full-collection
  pauses that explain the difference);
* growth from the smallest size: the p99 ratio next to the item ratio (sub-linear when the
  first is far below the second); the sizes are served in turns (``--rounds``) once all are
  loaded, so a drift in the shared machine's load hits every size alike;
* for each channel that serves through an ANN index (``channel.index`` an
  :class:`~ecorec.recall.ann.AnnIndex`, ``channel.user_vector``): recall@100 of ``search``
  against ``exact`` with the sampled users' real query vectors, a rebuild's time, and the
  index's size on disk, both per million items.

Goals of the recall issue: p99 <= 10 ms at 1M x 1M, ANN recall@100 >= 0.95.

    python benchmarks/recall_serving.py                       # 10k and 100k
    python benchmarks/recall_serving.py --sizes 10000 --requests 300
    python benchmarks/recall_serving.py --million             # adds 1M (long: generation, training)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recall_serving_report import ann_report, print_report

GOAL_P99_MS = 10.0
GOAL_ANN_RECALL = 0.95


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    a = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)}


class Timed:
    """A channel wrapper that records how long each call took (the Pipeline reads the rest)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.name = channel.name
        self.personalized = getattr(channel, "personalized", False)
        self.ms: list[float] = []

    def __call__(self, request: Any, profile: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.channel(request, profile)
        finally:
            self.ms.append((time.perf_counter() - started) * 1000)


def build_platform(size: int, days: int, seed: int, folder: Path) -> tuple[Any, Any, float]:
    from ecorec.core.config import StorageConfig
    from ecorec.data.stores import Stores
    from ecorec.data.synthetic import PlatformSpec, write_platform

    spec = PlatformSpec(
        users=size, items=size, creators=max(size // 50, 1), advertisers=10, days=days, seed=seed
    )
    stores = Stores(StorageConfig(database_url=f"sqlite:///{folder / 'ecorec.db'}"))
    started = time.perf_counter()
    write_platform(spec, stores.catalog, stores.events)
    return stores, spec, time.perf_counter() - started


def overrides(settings: list[str]) -> dict[str, dict[str, Any]]:
    """``channel.key=value`` pairs (values read as JSON where they parse) by channel."""
    out: dict[str, dict[str, Any]] = {}
    for setting in settings:
        target, sep, raw = setting.partition("=")
        channel, dot, key = target.partition(".")
        if not (sep and dot and channel and key):
            raise SystemExit(f"--set {setting!r}: expected CHANNEL.KEY=VALUE (lightgcn.epochs=5)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(channel, {})[key] = value
    return out


def train_channels(
    names: list[str], data: Any, settings: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    from ecorec.core.config import EcorecConfig
    from ecorec.factory import CHANNELS

    recall = {"channels": names, **settings}
    params = EcorecConfig.model_validate({"pipeline": {"recall": recall}}).pipeline.recall
    trained, report = {}, {}
    for name in names:
        channel = CHANNELS[name](params.params(name))
        started = time.perf_counter()
        try:
            channel.train(data)
        except ValueError as exc:
            report[name] = {"skipped": str(exc)}
            log(f"  {name}: skipped ({exc})")
            continue
        except Exception as exc:  # one broken channel must not cost the others their figures
            report[name] = {"failed": f"{type(exc).__name__}: {exc}"}
            log(f"  {name}: FAILED ({type(exc).__name__}: {exc})")
            continue
        seconds = time.perf_counter() - started
        report[name] = {"train_s": round(seconds, 2), **settings.get(name, {})}
        trained[name] = channel
        log(f"  {name}: trained in {seconds:.1f} s")
    return trained, report


def sample_users(spec: Any, count: int, seed: int) -> list[str]:
    from ecorec.data.synthetic import id_formats

    fmt = id_formats(spec)["user"]
    rng = random.Random(seed)
    return [fmt.one(n) for n in rng.sample(range(spec.users), min(count, spec.users))]


def load_profiles(stores: Any, users: list[str], lookup: Any) -> Any:
    """Profiles of ``users`` rebuilt from their events, as ingest would (nearline path)."""
    from ecorec.data.events import table_to_events
    from ecorec.data.profiles.delta import deltas_from_events
    from ecorec.data.profiles.memory import MemoryProfileStore

    profiles = MemoryProfileStore()
    wanted = pa.array(users, pa.string())
    for batch in stores.events.scan_batches(batch_size=500_000):
        mine = batch.filter(pc.is_in(batch.column("user_id"), value_set=wanted))
        if not mine.num_rows:
            continue
        for user_id, delta in deltas_from_events(table_to_events(mine), lookup).items():
            profiles.apply(user_id, delta)
    return profiles


class GcPauses:
    """Times the interpreter's garbage collections while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info.get("generation") == 2:
            self.ms.append((time.perf_counter() - self._started) * 1000)
        else:
            self._started = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


@dataclass
class Served:
    """One platform size, trained and loaded, ready to take requests."""

    size: int
    pipeline: Any
    timed: list[Timed]
    users: list[str]
    report: dict[str, Any]
    stores: Any
    latency: dict[str, list[float]] = field(default_factory=dict)
    merged: list[int] = field(default_factory=list)
    channel_ms: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def _serve(served: Served, users: list[str], n: int, phase: str) -> None:
    from ecorec.core.contracts import Request

    for channel in served.timed:
        channel.ms.clear()
    times = served.latency.setdefault(phase, [])
    for k, user in enumerate(users):
        request = Request(user, n=n, request_id=f"bench-{phase}-{k}", ts=0.0)
        started = time.perf_counter()
        slate = served.pipeline(request)
        times.append((time.perf_counter() - started) * 1000)
        served.merged.append(slate.stages.get("merged", 0))
    by_channel = served.channel_ms.setdefault(phase, {})
    for channel in served.timed:
        by_channel.setdefault(channel.name, []).extend(channel.ms)


def time_interleaved(platforms: list[Served], n: int, rounds: int) -> dict[str, Any]:
    """Serve every size's users in ``rounds`` slices, the sizes taking turns in each round.

    The machine is shared and its load drifts over minutes; taking turns in short slices
    exposes every size to the same conditions, so the growth ratios compare like with like.
    Two phases: as the process is after loading (``as_loaded``), then after ``gc.freeze()``
    (what a server does once its models are loaded, so that full collections stop walking
    millions of model objects).
    """
    from ecorec.core.contracts import Request

    for served in platforms:
        for user in served.users[:20]:  # warm caches (first faiss search, numpy dispatch)
            served.pipeline(Request(user, n=n))
    load = os.getloadavg()[0]
    pauses: dict[str, GcPauses] = {}
    for phase in ("as_loaded", "gc_frozen"):
        if phase == "gc_frozen":
            gc.freeze()
        gc.collect()
        with GcPauses() as pauses[phase]:
            for r in range(rounds):
                for served in platforms:
                    cut = np.array_split(np.arange(len(served.users)), rounds)[r]
                    _serve(served, [served.users[i] for i in cut], n, phase)
    gc.unfreeze()
    out: dict[str, Any] = {"load_avg_1m": round(load, 2)}
    for phase, p in pauses.items():
        out[f"full_gc_{phase}"] = {"pauses": len(p.ms), "max_ms": round(max(p.ms, default=0), 1)}
    for served in platforms:
        result: dict[str, Any] = {"requests": len(served.users)}
        for phase in ("gc_frozen", "as_loaded"):
            figures: dict[str, Any] = {
                **percentiles(served.latency[phase]),
                "channels_p99": {
                    name: percentiles(ms)["p99"] for name, ms in served.channel_ms[phase].items()
                },
            }
            if phase == "gc_frozen":
                result.update(figures)
            else:
                result["as_loaded"] = figures
        result["mean_candidates"] = round(float(np.mean(served.merged)), 1)
        out[str(served.size)] = result
    return out


def prepare_size(size: int, args: argparse.Namespace, names: list[str], folder: Path) -> Served:
    """Generate, train and load one platform; measure its ANN indexes."""
    from ecorec.core.pipeline import Pipeline
    from ecorec.data.lookup import ItemLookup
    from ecorec.data.training import TrainingData
    from ecorec.ranking.recall_order import RecallOrderRanker
    from ecorec.recall.merge import Merge

    log(f"[{size:,}] generating {args.days} days ...")
    stores, spec, gen_s = build_platform(size, args.days, args.seed, folder)
    events = stores.events.count()
    log(f"[{size:,}] {events:,} events in {gen_s:.1f} s; training ...")
    trained, report = train_channels(
        names, TrainingData(stores.events, stores.catalog), overrides(args.set)
    )
    lookup = ItemLookup.from_catalog(stores.catalog)
    users = sample_users(spec, args.requests, args.seed)
    profiles = load_profiles(stores, users, lookup)
    timed = [Timed(c) for c in trained.values()]
    merge = Merge({}, items=lookup)  # the default configuration's quotas and cap
    pipeline = Pipeline(timed, merge, RecallOrderRanker(), profiles=profiles)
    log(f"[{size:,}] measuring ANN indexes ...")
    summary = {
        "items": size,
        "users": size,
        "days": args.days,
        "events": events,
        "generate_s": round(gen_s, 1),
        "channels": report,
        "ann": ann_report(trained, profiles, users),
    }
    return Served(size, pipeline, timed, users, summary, stores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated item counts")
    parser.add_argument("--million", action="store_true", help="add the 1,000,000 size")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--n", type=int, default=50, help="slate size per request")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5, help="turns the sizes take")
    parser.add_argument("--channels", default="", help="comma-separated; default: all registered")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CHANNEL.KEY=VALUE",
        help="a channel's training setting, e.g. lightgcn.epochs=5 (repeatable)",
    )
    args = parser.parse_args()

    from ecorec.factory import CHANNELS

    names = [c for c in args.channels.split(",") if c] or list(CHANNELS)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    folder = Path(tempfile.mkdtemp(prefix="ecorec-serving-"))
    platforms: list[Served] = []
    try:
        for size in sorted(sizes):
            (folder / str(size)).mkdir()
            platforms.append(prepare_size(size, args, names, folder / str(size)))
        log(f"serving {args.requests} requests per size, in {args.rounds} interleaved rounds ...")
        latency = time_interleaved(platforms, args.n, args.rounds)
    finally:
        for served in platforms:
            served.stores.close()
        shutil.rmtree(folder, ignore_errors=True)
    shared = {k: v for k, v in latency.items() if not k.isdigit()}
    results = []
    for served in platforms:
        result = {**served.report, "latency_ms": latency[str(served.size)], **shared}
        results.append(result)
        print(json.dumps({"benchmark": "recall_serving", **result}), flush=True)
    print_report(results)
    base, top = results[0], results[-1]
    summary = {
        "benchmark": "recall_serving_summary",
        "sizes": [r["items"] for r in results],
        "p99_ms": [r["latency_ms"]["p99"] for r in results],
        "p99_growth": round(top["latency_ms"]["p99"] / max(base["latency_ms"]["p99"], 1e-9), 2),
        "item_growth": top["items"] / base["items"],
        "p99_goal_met_at_largest": top["latency_ms"]["p99"] <= GOAL_P99_MS,
        "ann_recall_goal_met": all(
            a["recall@100"] >= GOAL_ANN_RECALL
            for r in results
            for a in r["ann"].values()
            if "kind" in a
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
