"""Locust users for ``benchmarks/service_load.py`` (run from ``.bench-load/``, not ``.venv``).

Driven by environment variables, so the benchmark can start ``locust --headless`` as a plain
subprocess and read back every request it made:

* ``ECOREC_BENCH_KEY``: the client API key; ``ECOREC_BENCH_USERS``/``ECOREC_BENCH_ITEMS``:
  files of known ids, one a line; ``ECOREC_BENCH_N``: slate size.
* ``ECOREC_BENCH_RATE``: requests/s per simulated user (``constant_throughput``); 0 means a
  closed loop (each user sends its next request as soon as the last one is answered).
* ``ECOREC_BENCH_BATCH``: events per ``POST /v1/events`` (``IngestUser``).
* ``ECOREC_BENCH_OUT``: where every request is written at exit as JSON lines
  ``[start_s, ms, ok, status, events, degraded]``, so percentiles are computed from all
  samples rather than from Locust's rounded histogram.

    .bench-load/bin/locust -f benchmarks/service_locustfile.py --headless -u 8 -r 8 \
        --run-time 20s --host http://127.0.0.1:8000 RecommendUser
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task

KEY = os.environ.get("ECOREC_BENCH_KEY", "")
N = int(os.environ.get("ECOREC_BENCH_N", "10"))
RATE = float(os.environ.get("ECOREC_BENCH_RATE", "0"))
BATCH = int(os.environ.get("ECOREC_BENCH_BATCH", "100"))
OUT = os.environ.get("ECOREC_BENCH_OUT", "")
RUN = uuid.uuid4().hex[:8]
SAMPLES: list[list[Any]] = []
COUNTER = itertools.count()


def _ids(variable: str) -> list[str]:
    path = os.environ.get(variable, "")
    return Path(path).read_text().split() if path else []


USERS = _ids("ECOREC_BENCH_USERS")
ITEMS = _ids("ECOREC_BENCH_ITEMS")
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@events.request.add_listener
def _record(
    response_time: float,
    exception: BaseException | None,
    start_time: float,
    context: dict[str, Any],
    response: Any = None,
    **_: Any,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    # a slate served by a fallback (a stage raised or overran): a 200, but not the full pipeline
    degraded = b'"degraded":true' in (getattr(response, "content", None) or b"")
    SAMPLES.append(
        [start_time, response_time, exception is None, status, context.get("events", 0), degraded]
    )


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    if OUT:
        with open(OUT, "w") as f:
            for sample in SAMPLES:
                f.write(json.dumps(sample) + "\n")


def _wait() -> Any:
    return constant_throughput(RATE) if RATE > 0 else constant(0)


class RecommendUser(FastHttpUser):
    """``POST /v1/recommend`` for a random known user."""

    wait_time = _wait()

    @task
    def recommend(self) -> None:
        body = {"user_id": random.choice(USERS), "n": N}
        self.client.post("/v1/recommend", json=body, headers=HEADERS, name="recommend")


class IngestUser(FastHttpUser):
    """``POST /v1/events`` with ``BATCH`` valid events whose ids were never sent before."""

    wait_time = _wait()

    @task
    def ingest(self) -> None:
        now = time.time()
        batch = []
        for k in range(BATCH):
            n = next(COUNTER)
            kind = ("impression", "impression", "impression", "click", "play")[n % 5]
            event: dict[str, Any] = {
                "event_id": f"load-{RUN}-{n}",
                "ts": now + k * 1e-6,
                "user_id": random.choice(USERS),
                "type": kind,
                "item_id": random.choice(ITEMS),
            }
            if kind == "play":
                event["value"] = round(random.uniform(1, 60), 1)
            batch.append(event)
        self.client.post(
            "/v1/events",
            json={"events": batch},
            headers=HEADERS,
            name="events",
            context={"events": BATCH},
        )
