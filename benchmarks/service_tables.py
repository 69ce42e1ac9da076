"""The Markdown tables ``service_load.py`` prints from its JSON result."""

from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[list[Any]]) -> None:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def print_report(result: dict[str, Any]) -> None:
    if "in_process" in result:
        print_in_process(result)
    print_http(result)


def print_in_process(result: dict[str, Any]) -> None:
    inproc = result["in_process"]
    rows = []
    for phase in ("as_loaded", "gc_frozen"):
        for label, p in (("pipeline", inproc[phase]), ("+ append", inproc[phase]["with_append"])):
            rows.append([f"{label}, {phase}", p["p50"], p["p95"], p["p99"], p["max"]])
    table([f"in-process, n = {result['n']}", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    stages = inproc["gc_frozen"]["stages_p50_p99"]
    table(["stage (gc frozen)", "p50 ms", "p99 ms"], [[k, *v] for k, v in stages.items()])
    if "profile_top_own_ms" in inproc:
        top = inproc["profile_top_own_ms"]
        header = [f"function ({top['requests']} requests)", "calls", "own ms", "cum ms"]
        table(header, top["rows"][:15])
    table(["ingest step (in-process)", "median ms"], list(result["ingest_in_process"].items()))


def print_http(result: dict[str, Any]) -> None:
    for label, http in result["http"].items():
        ready, rss = http["ready_s"], http["rss_mb_loaded"]
        print(f"**HTTP, server {label}** (ready in {ready} s, RSS {rss} MB)\n")
        fixed, ingest = http["fixed_rate"], http["ingest"]
        runs = [(f"offered {fixed['offered_rps']} rps", fixed)]
        runs += [("closed loop", s) for s in http["sweep"]]
        runs += [(f"ingest, {ingest['events_per_s']} events/s", ingest)]
        keys = ["clients", "rps", "p50", "p95", "p99", "errors", "degraded", "server_cpu"]
        header = ["load", "clients", "rps", "p50 ms", "p95 ms", "p99 ms", "errors", "degraded"]
        rows = [[name] + [r.get(k, "") for k in keys] + [r["locust_cpu"]] for name, r in runs]
        table([*header, "server CPU", "locust CPU"], rows)
        for line, count in http["stage_failures_logged"].items():
            print(f"server log: {count} x {line}")
        if "overhead" in http:
            o = http["overhead"]
            print(f"HTTP overhead at 1 client: p50 {o['p50']:+.0%}, p99 {o['p99']:+.0%}\n")
