"""Benchmark `ecorec generate`: events/s and peak memory of the synthetic platform generator.

Each size runs in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own. The floor
this benchmark is held to is 200,000 events/s with a peak under 2 GB that stays flat as the
platform grows; every result line reports the ratio to that floor and the memory growth over
the smallest size, measured in the same run.

    python benchmarks/generate.py                       # pure generation (iter_event_tables)
    python benchmarks/generate.py --sink sqlite         # end to end: catalog + SQLite event log
    python benchmarks/generate.py --sizes 10000 --days 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker imports ecorec only after measuring its baseline
    from ecorec.data.synthetic import PlatformSpec

FLOOR_EVENTS_PER_S = 200_000
CEILING_PEAK_MB = 2048


def _spec(users: int, days: int, seed: int) -> PlatformSpec:
    from ecorec.data.synthetic import PlatformSpec

    return PlatformSpec(
        users=users,
        items=users,
        creators=max(users // 50, 1),
        advertisers=100,
        days=days,
        seed=seed,
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(users: int, days: int, seed: int, sink: str) -> dict:
    """Generate one platform in this process and measure it."""
    import pyarrow  # noqa: F401 - count imports in the baseline, not in the run

    from ecorec.data.synthetic import iter_event_tables, write_platform

    spec = _spec(users, days, seed)
    baseline = _peak_mb()
    started = time.perf_counter()
    events = tables = max_rows = 0
    if sink == "none":
        for table in iter_event_tables(spec):
            events += table.num_rows
            tables += 1
            max_rows = max(max_rows, table.num_rows)
    else:
        from ecorec.data.catalog.sql import SQLCatalog
        from ecorec.data.eventlog.sqlite import SQLiteEventLog

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ecorec.db"
            catalog, log = SQLCatalog(f"sqlite:///{path}"), SQLiteEventLog(path)
            try:
                stats = write_platform(spec, catalog, log)
            finally:
                log.close()
                catalog.close()
            events = stats.total_events
    seconds = time.perf_counter() - started
    return {
        "benchmark": "generate",
        "sink": sink,
        "users": spec.users,
        "items": spec.items,
        "creators": spec.creators,
        "advertisers": spec.advertisers,
        "days": spec.days,
        "events": events,
        "tables": tables,
        "max_rows_per_table": max_rows,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "peak_rss_mb": round(_peak_mb(), 1),
        "baseline_rss_mb": round(baseline, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="users (= items) per run")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sink", choices=["none", "sqlite"], default="none")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.days, args.seed, args.sink)))
        return
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"# ecorec generate benchmark ({machine}, Python {platform.python_version()})")
    print(
        f"{'users x items x days':>24} {'events':>12} {'s':>8} {'events/s':>11} "
        f"{'peak MB':>8} {'x floor':>8}"
    )
    results = []
    for users in (int(s) for s in args.sizes.split(",")):
        command = [
            sys.executable,
            __file__,
            "--worker",
            str(users),
            "--days",
            str(args.days),
            "--seed",
            str(args.seed),
            "--sink",
            args.sink,
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["x_floor"] = round(result["events_per_s"] / FLOOR_EVENTS_PER_S, 2)
        result["peak_over_smallest"] = round(
            result["peak_rss_mb"]
            / (results[0]["peak_rss_mb"] if results else result["peak_rss_mb"]),
            2,
        )
        # The floor is for generation; with a sink the log's append rate bounds the run.
        result["meets_goal"] = (
            result["events_per_s"] >= FLOOR_EVENTS_PER_S and result["peak_rss_mb"] < CEILING_PEAK_MB
            if args.sink == "none"
            else None
        )
        results.append(result)
        size = f"{users:,} x {result['items']:,} x {args.days}"
        print(
            f"{size:>24} {result['events']:>12,} {result['seconds']:>8.1f} "
            f"{result['events_per_s']:>11,} {result['peak_rss_mb']:>8.0f} "
            f"{result['x_floor']:>8.2f}"
        )
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
