"""Append throughput of the event logs: SQLite vs PostgreSQL, batch sizes 1 / 100 / 10,000.

Every case writes into a fresh store with durability on (SQLite WAL + synchronous=FULL,
PostgreSQL synchronous_commit=on), so each batch pays one fsync. Events are built before the
clock starts; only ``append`` is timed. A "sqlite-raw" peer runs the same INSERTs through plain
``sqlite3.executemany`` with the same pragmas, so the ratio shows what validation and
conversion cost on top of SQLite itself.

    python benchmarks/eventlog_append.py                 # table + JSON lines
    python benchmarks/eventlog_append.py --json          # JSON lines only
    python benchmarks/eventlog_append.py --backends sqlite --events 10000=100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from ecorec.core.events import Event, EventType
from ecorec.data.eventlog import PostgresEventLog, SQLiteEventLog
from ecorec.data.eventlog.sqlite import _INSERT
from ecorec.data.events import event_rows, events_to_table

DEFAULT_EVENTS = {1: 2_000, 100: 50_000, 10_000: 300_000}
FLOOR = 50_000  # events/s the issue demands of SQLite in batches of 10,000


def make_events(n: int, seed: int = 0) -> list[Event]:
    """A realistic mix: 70% impressions with channel/propensity, 20% clicks, 10% plays."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 50_000, n)
    items = rng.integers(0, 200_000, n)
    kinds = rng.random(n)
    channels = ("item_cf", "two_tower", "popular", "explore")
    out = []
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        base = dict(
            event_id=f"{run}-{i}",
            ts=1.7e9 + i * 0.01,
            user_id=f"u{users[i]}",
            item_id=f"i{items[i]}",
            request_id=f"r{i // 20}",
            position=i % 20,
        )
        if kinds[i] < 0.7:
            extra = {"channel": channels[i % 4], "propensity": round(float(kinds[i]), 3)}
            out.append(Event(type=EventType.IMPRESSION, extra=extra, **base))  # type: ignore[arg-type]
        elif kinds[i] < 0.9:
            out.append(Event(type=EventType.CLICK, **base))  # type: ignore[arg-type]
        else:
            out.append(Event(type=EventType.PLAY, value=float(kinds[i] * 60), **base))  # type: ignore[arg-type]
    return out


def batches(events: list[Event], size: int, kind: str) -> list[Any]:
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    if kind == "table":
        return [events_to_table(c) for c in chunks]
    if kind == "rows":
        return [event_rows(c) for c in chunks]
    return chunks


def timed(append: Callable[[Any], int], chunks: Sequence[Any]) -> tuple[float, int]:
    stored = 0
    start = time.perf_counter()
    for chunk in chunks:
        stored += append(chunk)
    return time.perf_counter() - start, stored


def run_sqlite(chunks: Sequence[Any], tmp: Path) -> tuple[float, int]:
    with SQLiteEventLog(tmp / f"{uuid.uuid4().hex}.db") as log:
        return timed(log.append, chunks)


def run_sqlite_raw(chunks: Sequence[Any], tmp: Path) -> tuple[float, int]:
    """The peer: the same table and pragmas, pre-built tuples, plain executemany."""
    path = tmp / f"{uuid.uuid4().hex}.db"
    SQLiteEventLog(path).close()  # same schema and indexes
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")

    def append(rows: list[tuple[Any, ...]]) -> int:
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        return conn.total_changes - before

    try:
        return timed(append, chunks)
    finally:
        conn.close()


def run_postgres(chunks: Sequence[Any], url: str) -> tuple[float, int]:
    schema = f"ecorec_bench_{uuid.uuid4().hex[:10]}"
    dsn = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    try:
        with PostgresEventLog(dsn) as log:
            return timed(log.append, chunks)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def machine(pg_url: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "pyarrow": pa.__version__,
    }
    if pg_url:
        with psycopg.connect(pg_url) as conn:
            info["postgres"] = conn.info.server_version
    return info


def parse_events(values: list[str]) -> dict[int, int]:
    out = dict(DEFAULT_EVENTS)
    for value in values:
        size, _, n = value.partition("=")
        out[int(size)] = int(n)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,sqlite-raw,postgres")
    parser.add_argument("--inputs", default="table,list", help="table (Arrow) and/or list")
    parser.add_argument(
        "--events",
        action="append",
        default=[],
        metavar="BATCH=N",
        help="events per case for a batch size, e.g. 10000=300000",
    )
    parser.add_argument("--batch-sizes", default="1,100,10000")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--tmp-dir", default=None, help="where SQLite files go (a real disk)")
    parser.add_argument("--json", action="store_true", help="print only JSON lines")
    args = parser.parse_args(argv)

    backends = args.backends.split(",")
    counts = parse_events(args.events)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    env = machine(args.pg_url if "postgres" in backends else None)
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        for size in sizes:
            events = make_events(counts[size])
            for backend in backends:
                inputs = ["rows"] if backend == "sqlite-raw" else args.inputs.split(",")
                for kind in inputs:
                    chunks = batches(events, size, kind)
                    if backend == "sqlite":
                        seconds, stored = run_sqlite(chunks, tmp)
                    elif backend == "sqlite-raw":
                        seconds, stored = run_sqlite_raw(chunks, tmp)
                    else:
                        seconds, stored = run_postgres(chunks, args.pg_url)
                    assert stored == len(events), (backend, stored, len(events))
                    row = {
                        "benchmark": "eventlog_append",
                        "backend": backend,
                        "input": kind,
                        "batch_size": size,
                        "events": len(events),
                        "seconds": round(seconds, 4),
                        "events_per_s": round(len(events) / seconds),
                        "durability": "sqlite WAL synchronous=FULL / pg synchronous_commit=on",
                        "machine": env,
                    }
                    results.append(row)
                    print(json.dumps(row), flush=True)
    if not args.json:
        report(results)
    return 0


def report(results: list[dict[str, Any]]) -> None:
    raw = {r["batch_size"]: r["events_per_s"] for r in results if r["backend"] == "sqlite-raw"}
    print(
        f"\n{'backend':<11} {'input':<6} {'batch':>6} {'events':>8} {'events/s':>10} {'vs raw':>7}",
        file=sys.stdout,
    )
    for r in results:
        ratio = r["events_per_s"] / raw[r["batch_size"]] if r["batch_size"] in raw else None
        print(
            f"{r['backend']:<11} {r['input']:<6} {r['batch_size']:>6} {r['events']:>8} "
            f"{r['events_per_s']:>10,} {'' if ratio is None else f'{ratio:.2f}':>7}"
        )
    for r in results:
        if r["backend"] == "sqlite" and r["batch_size"] == 10_000:
            verdict = "meets" if r["events_per_s"] >= FLOOR else "MISSES"
            print(
                f"sqlite {r['input']} batch 10,000: {r['events_per_s'] / FLOOR:.2f}x the "
                f"{FLOOR:,} events/s floor ({verdict})"
            )


if __name__ == "__main__":
    raise SystemExit(main())
