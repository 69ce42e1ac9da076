"""The crash test: SIGKILL a real server under concurrent event posting, 20 times.

An event batch that got a 2xx was promised to be durable. After every restart each
acknowledged ``event_id`` must be in the EventLog exactly once: not lost by the kill, not
doubled by a client's retry. Batches that were in flight when the process died may or may not
be stored (the client never heard back), so they are only checked for duplicates.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecorec.data.stores import Stores
from ecorec.service.auth import KeyStore
from tests.service.conftest import make_platform

ROUNDS = 20
THREADS = 3
BATCH = 10
CLIENTS = [f"crash-user-{k}" for k in range(THREADS)]

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(folder: Path, database_url: str) -> Path:
    """The training-free pipeline of ``conftest.cheap_config``, as the TOML `serve` reads."""
    path = folder / "ecorec.toml"
    path.write_text(
        f'[storage]\ndatabase_url = "{database_url}"\n'
        '[pipeline.recall]\nchannels = ["popular", "item_cf"]\n'
        '[pipeline.rank]\nmodel = "recall_order"\n'
        "[pipeline.rerank]\norder = []\n",
        encoding="utf-8",
    )
    return path


class Server:
    """``ecorec serve`` in a child process that the test can start and SIGKILL."""

    def __init__(self, config: Path, port: int) -> None:
        self.config, self.port = config, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "ecorec.cli", "serve", "--config", str(self.config)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, err = self.process.communicate()
                raise AssertionError(f"server exited at start: {err.decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"server not healthy within {timeout} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None


def poster(
    url: str, key: str, user_id: str, round_: int, stop: threading.Event, acked: list[str]
) -> None:
    """Post batches of clicks until ``stop``; record the ids of every batch that got a 2xx."""
    headers = {"Authorization": f"Bearer {key}"}
    sequence = 0
    with httpx.Client(base_url=url, headers=headers, timeout=5.0) as client:
        while not stop.is_set():
            ids = [f"{user_id}-r{round_}-{sequence + k}" for k in range(BATCH)]
            sequence += BATCH
            events: list[dict[str, Any]] = [
                {
                    "event_id": event_id,
                    "ts": 1_800_000_000.0 + round_ * 1000 + sequence + k,
                    "user_id": user_id,
                    "type": "click",
                    "item_id": f"i{k}",
                }
                for k, event_id in enumerate(ids)
            ]
            try:
                response = client.post("/v1/events", json={"events": events})
            except httpx.TransportError:  # the server died under this request: not acknowledged
                return
            if 200 <= response.status_code < 300:
                acked.extend(ids)


def stored_counts(stores: Stores) -> Counter[str]:
    counts: Counter[str] = Counter()
    for user_id in CLIENTS:
        counts.update(e.event_id for e in stores.events.scan(user_id=user_id))
    return counts


def check(database_url: str, acked: list[str], round_: int) -> None:
    from ecorec.core.config import StorageConfig

    with Stores(StorageConfig(database_url=database_url)) as stores:
        counts = stored_counts(stores)
    lost = [event_id for event_id in acked if counts[event_id] == 0]
    doubled = [event_id for event_id, n in counts.items() if n > 1]
    assert not lost, f"round {round_}: {len(lost)} acknowledged events lost, e.g. {lost[:5]}"
    assert not doubled, f"round {round_}: stored more than once: {doubled[:5]}"


def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    config = make_platform(tmp_path)
    database_url = config.storage.database_url
    key_store = KeyStore(database_url)
    key = key_store.create_key("client")
    key_store.close()
    server = Server(write_config(tmp_path, database_url), free_port())
    rng = random.Random(6)
    acked: list[str] = []
    try:
        for round_ in range(ROUNDS):
            server.start()
            check(database_url, acked, round_)
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=poster, args=(server.url, key, user_id, round_, stop, acked)
                )
                for user_id in CLIENTS
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.05, 0.4))
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        server.start()
        check(database_url, acked, ROUNDS)
    finally:
        server.kill()
    assert len(acked) >= ROUNDS  # the posters did get through between the kills
