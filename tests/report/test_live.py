"""The service's health child process: it does the work, and it never outlives its server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ecorec.core.config import HealthConfig, StorageConfig
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
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
