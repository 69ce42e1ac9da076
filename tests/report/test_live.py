"""The service's health child process: it does the work, and it never outlives its server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from ecorec.core.config import HealthConfig, StorageConfig
from ecorec.core.entities import Ad, Creator, Item, User
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.metrics.health import catalog_tables, compute_health
from ecorec.report.live import HealthMonitor

SERVER = textwrap.dedent(
    """
    import sys
    from ecorec.core.config import HealthConfig, StorageConfig
    from ecorec.data.stores import Stores
    from ecorec.report.live import HealthMonitor

    storage = StorageConfig(database_url=sys.argv[1])
    with Stores(storage) as stores:
        monitor = HealthMonitor(stores.events, stores.catalog, HealthConfig(), storage=storage)
        monitor.refresh()
        child = next(iter(monitor._pool._processes))  # the refresh worker
        print(child, flush=True)
        sys.stdin.read()  # until killed
    """
)


def platform(folder: Path) -> StorageConfig:
    storage = StorageConfig(database_url=f"sqlite:///{folder / 'p.db'}")
    with Stores(storage) as stores:
        spec = PlatformSpec(users=60, items=120, creators=6, advertisers=1, days=2, seed=2)
        write_platform(spec, stores.catalog, stores.events)
    return storage


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_child_process_reports_what_the_thread_would(tmp_path: Path) -> None:
    storage = platform(tmp_path)
    with Stores(storage) as stores:
        here = HealthMonitor(stores.events, stores.catalog, HealthConfig()).refresh()
        child = HealthMonitor(stores.events, stores.catalog, HealthConfig(), storage=storage)
        try:
            there = child.refresh()
        finally:
            child.close()
    assert set(there.reports) == set(here.reports) == {"24h", "7d"}
    assert there.reports["7d"]["events"] == here.reports["7d"]["events"] > 0


def test_a_killed_server_leaves_no_child_behind(tmp_path: Path) -> None:
    storage = platform(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, storage.database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    child = int(server.stdout.readline())
    assert alive(child)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    deadline = time.monotonic() + 15
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def assert_close(got: Any, want: Any) -> None:
    """Equal, floats up to rounding (DuckDB sums in parallel, in no fixed order)."""
    if isinstance(want, dict):
        assert set(got) == set(want)
        for key in want:
            assert_close(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_close(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    else:
        assert got == want


class CountingCatalog:
    """A catalog that counts the whole-catalog reads made through it."""

    def __init__(self, catalog: Any) -> None:
        self.catalog, self.reads = catalog, 0

    def values(self, kind: type, fields: Any) -> Any:
        self.reads += 1
        return self.catalog.values(kind, fields)

    def scan(self, kind: type) -> Any:
        self.reads += 1
        return self.catalog.scan(kind)


def test_a_refresh_reads_the_catalog_once_for_every_window(tmp_path: Path) -> None:
    storage = platform(tmp_path)
    config = HealthConfig(export_windows=["24h", "7d", "30d"])
    with Stores(storage) as stores:
        counted = CountingCatalog(stores.catalog)
        snapshot = HealthMonitor(stores.events, counted, config, dashboard=True).refresh()
        assert counted.reads == 4  # users, items, creators, ads: once, not once per window
        for window in ("24h", "7d", "30d"):
            alone = compute_health(stores.events, stores.catalog, window, config=config)
            assert_close(snapshot.reports[window], alone)
    assert snapshot.page is not None


def test_catalog_tables_read_as_columns_equal_those_of_the_entities(tmp_path: Path) -> None:
    storage = platform(tmp_path)
    with Stores(storage) as stores:
        stores.catalog.put([Item("gone", creator_id="c", deleted=True), Creator("c", stage="head")])
        entities = [e for kind in (User, Item, Creator, Ad) for e in stores.catalog.scan(kind)]
        fast, slow = catalog_tables(stores.catalog), catalog_tables(entities)
    assert set(fast) == {"users", "items", "creators", "ads"}
    for name, table in fast.items():
        assert table.num_rows > 0
        assert table.equals(slow[name]), name
