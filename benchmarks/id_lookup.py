"""What one item-id -> row lookup costs as the catalog grows: a dict keyed by string ids.

Every stage of a request maps its ~500 candidates' ids to rows of its own per-item arrays
(merge's catalog filter, the ranker's feature codes, creator traits, DPP's similarity keys,
break-up rules), the way the code does it: ``np.fromiter(map(table.__getitem__, ids))``.
Below the CPU caches that is a hash and a compare; past them, at a million keys, each lookup
is a few memory misses (hash slot, entry, key string, value). Measured here per lookup for
``--sizes`` keys, with ids freshly made each request (as channels make them from numpy
arrays) and with the very objects the dict holds, so the cost of the misses is visible apart
from the hashing. Between the keys, other objects are allocated, as in a loaded server's heap.

    .venv/bin/python benchmarks/id_lookup.py
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np


def per_lookup_ns(size: int, fresh: bool, requests: int, candidates: int) -> float:
    ids = [f"i{k:07d}" for k in range(size)]
    table = {item_id: row for row, item_id in enumerate(ids)}
    spacer = [str(k) * 3 for k in range(size)]  # noqa: F841 - scatters the keys like a real heap
    as_array = np.array(ids)
    rng = random.Random(0)
    spent = 0.0
    for _ in range(requests):
        rows = [rng.randrange(size) for _ in range(candidates)]
        wanted = as_array[rows].tolist() if fresh else [ids[r] for r in rows]
        started = time.perf_counter()
        np.fromiter(map(table.__getitem__, wanted), np.int64, len(wanted))
        spent += time.perf_counter() - started
    return spent / requests / candidates * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--candidates", type=int, default=500)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        result = {
            "benchmark": "id_lookup",
            "keys": size,
            "fresh_ids_ns": round(per_lookup_ns(size, True, args.requests, args.candidates)),
            "same_objects_ns": round(per_lookup_ns(size, False, args.requests, args.candidates)),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
