"""What ``recall_serving.py`` measures of the ANN indexes, and the tables it prints."""

from __future__ import annotations

import inspect
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _query(channel: Any, user: str, profile: Any) -> np.ndarray | None:
    from ecorec.core.contracts import Request

    arity = len(inspect.signature(channel.user_vector).parameters)
    vector = (
        channel.user_vector(Request(user), profile) if arity >= 2 else channel.user_vector(profile)
    )
    return None if vector is None else np.asarray(vector, dtype=np.float32).reshape(-1)


def ann_report(trained: dict[str, Any], profiles: Any, users: list[str], k: int = 100) -> dict:
    """Recall@k of search vs exact with real user queries; rebuild time and size per 1M items."""
    from ecorec.recall.ann import AnnIndex

    out = {}
    for name, channel in trained.items():
        index = getattr(channel, "index", None)
        if not isinstance(index, AnnIndex) or not hasattr(channel, "user_vector"):
            continue
        queries = [q for u in users if (q := _query(channel, u, profiles.get(u))) is not None]
        if not queries:
            out[name] = {"skipped": "no user has a query vector"}
            continue
        q = np.vstack(queries)
        found = index.search(q, k)
        exact = index.exact(q, k)
        # tie-aware: a found item counts when its exact score reaches the k-th exact score
        # (metadata vectors tie a lot, and any of the tied items is a right answer)
        recalls, overlaps = [], []
        for f, e in zip(found, exact, strict=True):
            if not e:
                continue
            kth = e[-1][1]
            recalls.append(sum(1 for _, score in f if score >= kth - 1e-5) / len(e))
            overlaps.append(len({i for i, _ in f} & {i for i, _ in e}) / len(e))
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp))
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
            # rebuild from the saved vectors: the build cost alone, without the model's training
            vectors = np.load(Path(tmp) / "ann_vectors.npy", allow_pickle=False)
            ids = np.load(Path(tmp) / "ann_ids.npy", allow_pickle=False)
            started = time.perf_counter()
            AnnIndex(index.config).build(ids, vectors)
            build = time.perf_counter() - started
        per_million = 1_000_000 / max(len(index), 1)
        out[name] = {
            "kind": index.config.kind,
            "items": len(index),
            "dim": index.dim,
            "queries": len(q),
            f"recall@{k}": round(float(np.mean(recalls)), 4),
            f"id_overlap@{k}": round(float(np.mean(overlaps)), 4),
            "build_s_per_million": round(build * per_million, 2),
            "disk_mb_per_million": round(size / 2**20 * per_million, 1),
        }
    return out


def print_report(results: list[dict[str, Any]]) -> None:
    base = results[0]
    print("| items | events | p50 ms | p95 ms | p99 ms | p99 growth | item growth |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lat = r["latency_ms"]
        growth = lat["p99"] / max(base["latency_ms"]["p99"], 1e-9)
        print(
            f"| {r['items']:,} | {r['events']:,} | {lat['p50']:.2f} | {lat['p95']:.2f} | "
            f"{lat['p99']:.2f} | {growth:.2f}x | {r['items'] / base['items']:.0f}x |"
        )
    names = sorted({n for r in results for n in r["latency_ms"]["channels_p99"]})
    print()
    print("| channel | " + " | ".join(f"p99 ms @ {r['items']:,}" for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for name in names:
        cells = [r["latency_ms"]["channels_p99"].get(name) for r in results]
        print(f"| {name} | " + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " |")
    rows = [(r["items"], n, a) for r in results for n, a in r["ann"].items() if "kind" in a]
    if rows:
        print()
        print("| items | channel | index | dim | recall@100 | build s / 1M | disk MB / 1M |")
        print("|---:|---|---|---:|---:|---:|---:|")
        for items, name, a in rows:
            print(
                f"| {items:,} | {name} | {a['kind']} | {a['dim']} | {a['recall@100']:.4f} | "
                f"{a['build_s_per_million']:.1f} | {a['disk_mb_per_million']:.0f} |"
            )
