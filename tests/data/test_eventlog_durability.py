"""Kill -9 a writer mid-stream: every acknowledged batch survives, no batch is half there.

A writer process appends batches in a loop and prints a batch number only after ``append``
returned (the acknowledgement the HTTP service would turn into a 2xx). The test kills it with
SIGKILL at a random moment after some acks, reopens the log, and counts events per batch.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pytest

from ecorec.data.eventlog import PostgresEventLog, SQLiteEventLog

PG_URL = os.environ.get("ECOREC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 2_000
KILLS = 5

WRITER = """
import sys
from ecorec.core.events import Event, EventType
from ecorec.data.eventlog import PostgresEventLog, SQLiteEventLog

kind, target, batch, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
log = SQLiteEventLog(target) if kind == "sqlite" else PostgresEventLog(target)
while True:
    log.append([
        Event(f"b{batch}-{i}", 1.7e9 + batch + i / size, f"u{i % 97}", EventType.CLICK,
              item_id=f"i{i}", request_id=f"b{batch}", extra={"i": i})
        for i in range(size)
    ])
    print(batch, flush=True)
    batch += 1
"""


def _run_and_kill(kind: str, target: str, first: int, rng: random.Random) -> list[int]:
    """Start a writer at batch ``first``, SIGKILL it after a few acks; return the acked batches."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, target, str(first), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    acked: list[int] = []
    try:
        wanted = rng.randint(1, 4)
        while len(acked) < wanted:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer died before {wanted} acks: {proc.stderr.read()}")
            acked.append(int(line))
        # The writer never idles: it is already building or appending the next batch. A random
        # delay (up to about one append) spreads the kill over validation, insert and fsync.
        time.sleep(rng.uniform(0.0, 0.04))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # Acks printed before the kill are acknowledged too.
    acked += [int(line) for line in proc.stdout.read().split()]
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


def _batch_counts(log: SQLiteEventLog | PostgresEventLog) -> dict[int, int]:
    counts: dict[int, int] = {}
    for table in log.scan_batches(batch_size=50_000):
        for row in pc.value_counts(table.column("request_id")).to_pylist():
            key = int(row["values"][1:])
            counts[key] = counts.get(key, 0) + row["counts"]
    return counts


def _kill_loop(kind: str, target: str, reopen: type[SQLiteEventLog | PostgresEventLog]) -> None:
    rng = random.Random(7)
    first = 0
    all_acked: list[int] = []
    before: set[int] = set()
    for _ in range(KILLS):
        acked = _run_and_kill(kind, target, first, rng)
        assert acked, "the writer acknowledged nothing"
        all_acked += acked
        with reopen(target) as log:  # type: ignore[arg-type]
            counts = _batch_counts(log)
        partial = {b: n for b, n in counts.items() if n != BATCH}
        assert partial == {}, f"half-stored batches after kill -9: {partial}"
        missing = [b for b in all_acked if b not in counts]
        assert missing == [], f"acknowledged batches lost: {missing}"
        assert before <= set(counts)
        # Of this round's batches, only the one in flight may be stored without its ack.
        assert set(counts) - before - set(acked) <= {max(acked) + 1}
        before = set(counts)
        first = max(counts) + 1


def test_sqlite_survives_kill_9(tmp_path: Path) -> None:
    _kill_loop("sqlite", str(tmp_path / "events.db"), SQLiteEventLog)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    name = f"ecorec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{name}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.services
def test_postgres_survives_kill_9(pg_dsn: str) -> None:
    _kill_loop("postgres", pg_dsn, PostgresEventLog)
