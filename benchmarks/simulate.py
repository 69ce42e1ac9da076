"""Benchmark `ecorec simulate`: speed, simulator overhead, a policy comparison, ML-100k KS.

Three measurements, each printed as one JSON line:

- ``timing``: a generated platform (``--users`` users and items, 7 days of history), the
  default pipeline trained on it, then ``--days`` simulated days with one policy. Reports
  requests/s, ms per request, the share of loop time spent outside ``pipeline(...)`` (the
  simulator's overhead; target <= 20%) and the extrapolation to 10,000 users x 30 days at the
  measured ms per request and requests per user-day (target <= 10 minutes).
- ``comparison``: the example policies ``baseline`` (DPP, novice-creator recall, creator
  traffic), ``no_dpp`` (none of the three) and ``ecosystem`` (baseline plus a creator
  break-up rule) side by side on split traffic for ``--compare-days`` days over
  ``--compare-users`` users.
- ``validation``: the ML-100k KS distances of :mod:`ecorec.simulate.validation`, 3 seeds.

    python benchmarks/simulate.py                              # defaults below
    python benchmarks/simulate.py --only timing --users 10000 --days 30 --workers 2  # target

Everything runs with one torch thread (requests are served one at a time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
TARGET_USERS, TARGET_DAYS, TARGET_SECONDS = 10_000, 30, 600.0


def _platform(folder: Path, users: int, seed: int):  # type: ignore[no-untyped-def]
    from ecorec.core.config import load_config
    from ecorec.data.ingest import rebuild_profiles
    from ecorec.data.lookup import ItemLookup
    from ecorec.data.stores import Stores
    from ecorec.data.synthetic import PlatformSpec, write_platform

    config = load_config(None, {"storage": {"database_url": f"sqlite:///{folder / 'ecorec.db'}"}})
    spec = PlatformSpec(
        users=users, items=users, creators=max(users // 50, 2), advertisers=20, days=7, seed=seed
    )
    with Stores(config.storage) as stores:
        write_platform(spec, stores.catalog, stores.events)
        rebuild_profiles(stores.events, ItemLookup.from_catalog(stores.catalog), stores.profiles)
    return config


def timing(users: int, days: int, seed: int, workers: int) -> dict[str, object]:
    from ecorec.data.stores import Stores
    from ecorec.simulate import SimConfig, Simulation

    with tempfile.TemporaryDirectory(prefix="ecorec-sim-") as tmp:
        config = _platform(Path(tmp), users, seed)
        with Stores(config.storage) as stores:
            started = time.perf_counter()
            sim = SimConfig(
                users=users, creators=max(users // 50, 2), days=days, seed=seed, workers=workers
            )
            result = Simulation(sim, config, stores).run()
            total = time.perf_counter() - started
    t = result["timing"]
    ms = 1000 * t["loop_seconds"] / max(t["requests"], 1)
    per_user_day = t["requests"] / (users * days)
    target_requests = per_user_day * TARGET_USERS * TARGET_DAYS
    return {
        "measure": "timing",
        "users": users,
        "days": days,
        "workers": workers,
        "requests": t["requests"],
        "seconds_total": round(total, 1),
        "setup_and_training_seconds": t["setup_and_training_seconds"],
        "loop_seconds": t["loop_seconds"],
        "ms_per_request": round(ms, 2),
        "pipeline_ms_per_request": round(1000 * t["pipeline_seconds"] / max(t["requests"], 1), 2),
        "serving_seconds_all_workers": t["serving_seconds"],
        "simulator_overhead_share": t["simulator_overhead_share"],
        "requests_per_user_day": round(per_user_day, 3),
        "extrapolated_10k_x_30d_seconds": round(target_requests * ms / 1000, 0),
        "extrapolated_is_measured": users == TARGET_USERS and days == TARGET_DAYS,
        "target_seconds": TARGET_SECONDS,
    }


def comparison(users: int, days: int, seed: int) -> dict[str, object]:
    from ecorec.data.stores import Stores
    from ecorec.simulate import SimConfig, Simulation, load_policy

    names = ("baseline", "no_dpp", "ecosystem")
    policies = [load_policy(ROOT / "examples" / "policies" / f"{name}.toml") for name in names]
    with tempfile.TemporaryDirectory(prefix="ecorec-sim-") as tmp:
        config = _platform(Path(tmp), users, seed)
        with Stores(config.storage) as stores:
            sim = SimConfig(users=users, creators=max(users // 50, 2), days=days, seed=seed)
            result = Simulation(sim, config, stores, policies).run()
    return {
        "measure": "comparison",
        "users": users,
        "days": days,
        "arms": {name: arm["users"] for name, arm in result["arms"].items()},
        "comparison": result["comparison"],
        "creators": {name: arm["creators"] for name, arm in result["arms"].items()},
        "advertisers": {name: arm["advertisers"] for name, arm in result["arms"].items()},
        "timing": result["timing"],
    }


def validation() -> dict[str, object]:
    from ecorec.data.datasets import load_dataset
    from ecorec.simulate.validation import validate

    dataset = load_dataset(str(ML100K), "recbole", {})
    return {"measure": "validation", "runs": [validate(dataset, seed=s) for s in range(3)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--compare-users", type=int, default=600)
    parser.add_argument("--compare-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="simulation processes (timing)")
    parser.add_argument("--only", choices=["timing", "comparison", "validation"], default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    steps = {
        "validation": validation,
        "timing": lambda: timing(args.users, args.days, args.seed, args.workers),
        "comparison": lambda: comparison(args.compare_users, args.compare_days, args.seed),
    }
    for name, step in steps.items():
        if args.only in (None, name):
            print(json.dumps(step()), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
