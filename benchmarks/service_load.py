"""The service under load: in-process ``recommend`` vs HTTP, a concurrency sweep, and ingest.

One installation is built with the CLI (``ecorec generate``, ``ecorec train``: the default
pipeline, eight recall channels, DeepFM, six re-rankers; ``ecorec keys create``) or reused
with ``--reuse DIR``. Then, one after the other on the same machine:

1. in-process: the pipeline the service builds (``build_pipeline`` over the same stores) serves
   ``--requests`` random known users after a warm-up, first as loaded, then after
   ``gc.freeze()``; every stage is timed (profile read, each channel, merge, ranker, each
   re-ranker) and so is the rest of the route's work (the impressions' durable append);
2. HTTP: ``ecorec serve`` (one uvicorn process, rate limit off) in a subprocess, driven by
   Locust headless (``FastHttpUser``, from ``.bench-load/``, ``make bench-load``) in another
   process: an offered rate of ``--rate`` requests/s (``constant_throughput`` over ``--rate-users``
   users), then closed loops of 1, 8, 32 and 128 clients; then ``POST /v1/events`` with
   batches of ``--batch`` new events from ``--ingest-clients`` clients, durability on (the
   default SQLite event log, WAL + ``synchronous=FULL``);
3. ``--servers`` repeats the HTTP part on variants of the server, patched in by this script
   (not the shipped service): ``frozen`` calls ``gc.freeze()`` once its models are loaded;
   ``serial`` lets one pipeline call run at a time; ``omp1`` sets ``OMP_NUM_THREADS=1``.
   Slates served by a fallback (``degraded``) are counted, and the stage failures the
   server logged.

Every request's latency comes from Locust's request hook (all samples, not its rounded
histogram); the first ``--warmup`` seconds of each run are dropped. The load generator and the
server share the machine's cores, so the figures are those of one box doing both.

Goals (service issue): in-process p99 <= 20 ms at 1M items; HTTP >= 200 requests/s sustained
with p99 <= 50 ms and no errors; HTTP overhead <= 25 %; ingest >= 5,000 events/s.

    make bench-load                                                   # Locust, once
    .venv/bin/python benchmarks/service_load.py --reuse /tmp/ecorec-1m --skip-inproc \
        --ready-only                                                  # start-up time and RSS
    .venv/bin/python benchmarks/service_load.py --items 10000 --users 2000 --days 3 \
        --seconds 10 --warmup 2 --requests 300                        # smoke, ~5 min
    .venv/bin/python benchmarks/service_load.py --items 1000000 --users 20000 --days 7 \
        --keep /tmp/ecorec-1m                                         # build (long) and measure
    .venv/bin/python benchmarks/service_load.py --reuse /tmp/ecorec-1m --servers shipped,frozen
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from service_inproc import in_process, ingest_breakdown, log, percentiles
from service_servers import BIN, Server, cpu_seconds
from service_tables import print_report

ROOT = Path(__file__).resolve().parents[1]
LOCUST = ROOT / ".bench-load" / "bin" / "locust"
LOCUSTFILE = ROOT / "benchmarks" / "service_locustfile.py"


def ecorec(*args: str) -> str:
    """Run one ``ecorec`` command of this environment; its stdout."""
    done = subprocess.run([str(BIN / "ecorec"), *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ecorec {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


# -- the installation ------------------------------------------------------------------------


def build(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, train and key a fresh installation in ``folder``; what it took."""
    db = f"sqlite:///{folder / 'ecorec.db'}"
    report: dict[str, Any] = {"users": args.users, "items": args.items, "days": args.days}
    sizes = [f"--{name}={getattr(args, name)}" for name in ("users", "items", "days", "seed")]
    for step, cmd in (
        ("generate_s", ["generate", *sizes, "--db", db]),
        ("train_s", ["train", "--db", db]),
    ):
        log(f"{step[:-2]} ...")
        started = time.perf_counter()
        ecorec(*cmd)
        report[step] = round(time.perf_counter() - started, 1)
        log(f"  {report[step]:.0f} s")
    (folder / "build.json").write_text(json.dumps(report))
    return report


def prepare(folder: Path, seed: int) -> dict[str, Any]:
    """Config with the rate limit off, a client key, and files of known user and item ids."""
    from ecorec.data.synthetic import PlatformSpec, id_formats

    db = f"sqlite:///{folder / 'ecorec.db'}"
    (folder / "load.toml").write_text("[service.rate_limit]\nenabled = false\n")
    info = json.loads(ecorec("info", "--db", db, "--json"))
    spec = PlatformSpec(
        users=info["users"],
        items=info["items"],
        creators=info["creators"],
        advertisers=info["advertisers"],
    )
    fmt = id_formats(spec)
    (folder / "users.txt").write_text("\n".join(fmt["user"].one(n) for n in range(spec.users)))
    rng = random.Random(seed)
    items = rng.sample(range(spec.items), min(spec.items, 100_000))
    (folder / "items.txt").write_text("\n".join(fmt["item"].one(n) for n in items))
    key = json.loads(ecorec("keys", "create", "--role", "client", "--db", db, "--json"))["key"]
    built = (
        json.loads((folder / "build.json").read_text()) if (folder / "build.json").exists() else {}
    )
    return {
        "db": db,
        "key": key,
        "users": spec.users,
        "items": spec.items,
        "events": info["events"],
        **{k: v for k, v in built.items() if k.endswith("_s") or k == "days"},
    }


# -- HTTP ------------------------------------------------------------------------------------


def drive(
    server: Server,
    setup: dict[str, Any],
    args: argparse.Namespace,
    kind: str,
    clients: int,
    rate: float = 0.0,
    batch: int = 0,
) -> dict[str, Any]:
    """One Locust run against ``server``: throughput, latency and errors after the warm-up."""
    folder = Path(setup["folder"])
    out_file = folder / "samples.jsonl"
    out_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "ECOREC_BENCH_KEY": setup["key"],
        "ECOREC_BENCH_USERS": str(folder / "users.txt"),
        "ECOREC_BENCH_ITEMS": str(folder / "items.txt"),
        "ECOREC_BENCH_N": str(args.n),
        "ECOREC_BENCH_RATE": str(rate),
        "ECOREC_BENCH_BATCH": str(batch),
        "ECOREC_BENCH_OUT": str(out_file),
    }
    seconds = args.warmup + args.seconds
    cmd = [
        str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--loglevel", "ERROR",
        "-u", str(clients), "-r", str(clients), "--run-time", f"{seconds}s",
        "--stop-timeout", "10", "--host", server.url, kind,
    ]  # fmt: skip
    server_cpu = cpu_seconds(server.process.pid)
    before = os.times()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    after = os.times()
    server_cpu = cpu_seconds(server.process.pid) - server_cpu
    if not out_file.exists():
        raise RuntimeError(
            f"locust wrote no samples (rc {done.returncode}):\n{done.stderr[-2000:]}"
        )
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    t0 = min(r[0] for r in rows) + args.warmup
    kept = [r for r in rows if r[0] >= t0]
    span = max(r[0] + r[1] / 1000 for r in kept) - t0 if kept else 1.0
    ok = [r for r in kept if r[2]]
    result: dict[str, Any] = {
        "kind": kind,
        "clients": clients,
        "offered_rps": round(rate * clients, 1) if rate else None,
        "requests": len(kept),
        "rps": round(len(ok) / span, 1),
        "errors": len(kept) - len(ok),
        "degraded": sum(1 for r in ok if r[5]),
        **percentiles([r[1] for r in ok]),
        "statuses": {str(s): sum(1 for r in kept if r[3] == s) for s in {r[3] for r in kept}},
        "server_cpu": round(server_cpu / (seconds or 1), 2),
        "locust_cpu": round(
            (after.children_user + after.children_system - before.children_user
             - before.children_system) / (seconds or 1), 2),
    }  # fmt: skip
    if batch:
        result["events_per_s"] = round(sum(r[4] for r in ok) / span, 1)
    log(f"  {kind} x{clients}{f' @ {rate * clients:.0f} rps' if rate else ''}: {result}")
    return result


def http_runs(setup: dict[str, Any], args: argparse.Namespace, variant: str) -> dict[str, Any]:
    """Fixed offered rate, the concurrency sweep and ingest against one fresh server."""
    server = Server(setup, args.port + args.servers.index(variant), variant)
    out: dict[str, Any] = {"ready_s": server.ready_s, "rss_mb_loaded": server.rss_mb}
    try:
        # warm the server (first faiss search, torch dispatch) before anything is timed
        drive(server, setup, argparse.Namespace(**{**vars(args), "seconds": 3, "warmup": 0}),
              "RecommendUser", 4)  # fmt: skip
        out["fixed_rate"] = drive(
            server, setup, args, "RecommendUser", args.rate_users, rate=args.rate / args.rate_users
        )
        out["sweep"] = [drive(server, setup, args, "RecommendUser", c) for c in args.concurrency]
        out["ingest"] = drive(
            server, setup, args, "IngestUser", args.ingest_clients, batch=args.batch
        )
        out["rss_mb_end"] = server.rss()
    finally:
        server.stop()
    # stages that raised are served around (a fallback), so they show only in the server's log
    failures: dict[str, int] = {}
    for line in Path(server.log.name).read_text().splitlines():
        if line.startswith("ERROR ") and line.endswith(
            ("failed; serving recall order", "failed; skipped")
        ):
            failures[line] = failures.get(line, 0) + 1
    out["stage_failures_logged"] = failures
    return out


# -- report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", type=Path, help="an installation this script built before")
    parser.add_argument("--keep", type=Path, help="build into this folder and keep it")
    parser.add_argument("--n", type=int, default=10, help="slate size (the API's default)")
    parser.add_argument("--requests", type=int, default=1000, help="in-process, per phase")
    parser.add_argument("--inproc-warmup", type=int, default=100)
    parser.add_argument("--profile", type=int, default=200, help="requests under cProfile (0: off)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered requests/s")
    parser.add_argument("--rate-users", type=int, default=64)
    parser.add_argument("--concurrency", default="1,8,32,128")
    parser.add_argument("--batch", type=int, default=500, help="events per ingest request")
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds per HTTP run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds dropped per HTTP run")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument(
        "--servers",
        default="shipped",
        help="comma-separated server variants: shipped (`ecorec serve` as it is), or parts "
        "joined by +: frozen (gc.freeze() after loading), serial (one pipeline call at a "
        "time), omp1 (OMP_NUM_THREADS=1), unbounded (no overload bound: "
        "[service] overload_wait_ms = 0); e.g. shipped,unbounded",
    )
    parser.add_argument("--skip-inproc", action="store_true")
    parser.add_argument(
        "--ready-only",
        action="store_true",
        help="per server variant, only start it: seconds until /readyz and its RSS (no Locust)",
    )
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.servers = [v for v in args.servers.split(",") if v]
    parts = {"shipped", "frozen", "serial", "omp1", "unbounded"}
    unknown = {v for v in args.servers if not set(v.split("+")) <= parts}
    if unknown:
        parser.error(f"unknown server variants: {', '.join(sorted(unknown))}")
    if args.servers and not args.ready_only and not LOCUST.exists():  # only HTTP runs need it
        sys.exit(f"{LOCUST} not found: run `make bench-load` first (or --servers '')")

    folder = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="ecorec-load-"))
    try:
        if args.reuse is None:
            folder.mkdir(parents=True, exist_ok=True)
            build(folder, args)
        setup = {"folder": str(folder), **prepare(folder, args.seed)}
        log(f"installation: {setup['items']:,} items, {setup['users']:,} users, "
            f"{setup['events']:,} events in {folder}")  # fmt: skip
        result: dict[str, Any] = {"benchmark": "service_load", "n": args.n, **setup}
        del result["key"], result["folder"]
        if not args.skip_inproc:
            log("in-process ...")
            result["in_process"] = in_process(setup, args)
            result["ingest_in_process"] = ingest_breakdown(setup, args)
        result["http"] = {}
        for label in args.servers if args.ready_only else ():
            server = Server(setup, args.port + args.servers.index(label), label)
            server.stop()
            result.setdefault("ready", {})[label] = {
                "ready_s": server.ready_s,
                "rss_mb_loaded": server.rss_mb,
            }
            log(f"server {label}: ready in {server.ready_s} s, RSS {server.rss_mb} MB")
        for label in () if args.ready_only else args.servers:
            log(f"HTTP, server {label} ...")
            http = http_runs(setup, args, label)
            one = next((s for s in http["sweep"] if s["clients"] == 1), None)
            if one and "in_process" in result:
                base = result["in_process"]["gc_frozen" if "frozen" in label else "as_loaded"]
                http["overhead"] = {q: round(one[q] / base[q] - 1, 3) for q in ("p50", "p99")}
            result["http"][label] = http
    finally:
        if args.reuse is None and args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    result["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result), flush=True)
    print_report(result)


if __name__ == "__main__":
    main()
