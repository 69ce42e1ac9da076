"""The service's own cost per request: ``ecorec serve``'s app with an instant pipeline.

``benchmarks/service_load.py`` measures the whole service, where the pipeline's ~10 ms hide
what the service itself adds. Here the real app (``create_app``: middleware, auth, the rate
limit, metrics, impressions, the nearline consumer) runs under uvicorn in this process, but
its pipeline is replaced by one that returns a fixed slate at once, so a client's latency is
the service's overhead plus the client's own. One closed-loop client (httpx, in a child
process) posts ``/v1/recommend`` for ``--seconds``; a tiny platform is generated unless
``--reuse DIR`` names an installation (``service_load.py --keep DIR`` builds one).

    .venv/bin/python benchmarks/service_overhead.py                  # ~1 minute
    .venv/bin/python benchmarks/service_overhead.py --reuse /tmp/sl1m --seconds 20
    .venv/bin/python benchmarks/service_overhead.py --reuse /tmp/sl1m --users 20000  # no repeats
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CLIENT = """
import json, random, sys, time
import httpx
url, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[4])
users = open(sys.argv[3]).read().split()
client = httpx.Client(base_url=url, headers={"X-API-Key": key})
rng, latencies = random.Random(0), []
for warm in (True, False):
    stop = time.perf_counter() + (2.0 if warm else seconds)
    while time.perf_counter() < stop:
        started = time.perf_counter()
        answer = client.post("/v1/recommend", json={"user_id": rng.choice(users), "n": 10})
        answer.raise_for_status()
        if not warm:
            latencies.append(1000 * (time.perf_counter() - started))
print(json.dumps(latencies))
"""


class InstantPipeline:
    """Answers every request with the same ten-item slate; keeps the real stages' attributes."""

    def __init__(self, real: Any) -> None:
        self.channels, self.ranker, self.rerankers = real.channels, real.ranker, real.rerankers

    def __call__(self, request: Any) -> Any:
        from ecorec.core.contracts import Slate, SlateItem

        reasons = ["recall:popular", "rank:deepfm"]
        items = [SlateItem(f"i{k}", k, 1.0 / (k + 1), "popular", reasons) for k in range(request.n)]
        return Slate(request.request_id, items, False, {"fallbacks": [], "failed": []}, None)


def installation(folder: Path) -> str:
    """A small generated platform with trained models in ``folder``; its database URL."""
    db = f"sqlite:///{folder / 'ecorec.db'}"
    for args in (["generate", "--users", "300", "--items", "600", "--days", "2"], ["train"]):
        subprocess.run(
            [str(Path(sys.executable).parent / "ecorec"), *args, "--db", db],
            check=True,
            capture_output=True,
        )
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", type=Path, help="an installation folder (ecorec.db inside)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument(
        "--users",
        type=int,
        default=2000,
        help="distinct users the client picks from; with more than it can revisit within 5 s "
        "every request is the service's first look at its user",
    )
    args = parser.parse_args()
    import uvicorn

    from ecorec.core.config import load_config
    from ecorec.core.entities import User
    from ecorec.data.stores import Stores
    from ecorec.service.app import create_app
    from ecorec.service.auth import KeyStore

    with tempfile.TemporaryDirectory(prefix="ecorec-overhead-") as tmp:
        db = f"sqlite:///{args.reuse / 'ecorec.db'}" if args.reuse else installation(Path(tmp))
        overrides = {"storage": {"database_url": db}, "service": {"rate_limit": {"enabled": False}}}
        config = load_config(None, overrides)
        with Stores(config.storage) as stores:
            users = stores.catalog.ids(User, limit=args.users)
        (Path(tmp) / "users.txt").write_text("\n".join(users))
        key = KeyStore(db).create_key("client")
        app = create_app(config)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        app.state.service.pipeline = InstantPipeline(app.state.service.pipeline)
        url = f"http://127.0.0.1:{args.port}"
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CLIENT,
                url,
                key,
                str(Path(tmp) / "users.txt"),
                str(args.seconds),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        server.should_exit = True
        thread.join(timeout=30)
    latencies = sorted(json.loads(out))
    n = len(latencies)
    result = {
        "benchmark": "service_overhead",
        "requests": n,
        "requests_per_s": round(n / args.seconds, 1),
        "p50_ms": round(latencies[n // 2], 3),
        "p99_ms": round(latencies[int(n * 0.99)], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
