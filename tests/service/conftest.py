"""A small trained platform and a running app over it, shared by the service tests.

The ``service`` fixture runs every test that uses it twice: on the embedded default (SQLite,
in-process profiles) and, under the ``services`` marker, on the real servers on 127.0.0.1
(PostgreSQL in a fresh database, Redis under a fresh prefix, a fresh NATS JetStream stream),
so the one suite proves both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecorec.core.config import EcorecConfig
from ecorec.data.ingest import rebuild_profiles
from ecorec.data.lookup import ItemLookup
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.factory import build_components, train_all
from ecorec.service import create_app
from ecorec.service.app import ServiceState
from ecorec.service.auth import KeyStore

#: the maintenance database, to create and drop the per-module test databases
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NATS = "nats://127.0.0.1:4222"


def cheap_config(database_url: str, **storage: str) -> EcorecConfig:
    """Two cheap recall channels, recall order as the ranker, no re-rankers: fast to train."""
    return EcorecConfig.model_validate(
        {
            "storage": {"database_url": database_url, **storage},
            "pipeline": {
                "recall": {"channels": ["popular", "item_cf"]},
                "rank": {"model": "recall_order"},
                "rerank": {"order": []},
            },
        }
    )


def make_platform(folder: Path, database_url: str = "", **storage: str) -> EcorecConfig:
    """Generate a small platform and train the cheap pipeline on it; rebuild the profiles.

    Without ``database_url`` everything lives in ``folder`` (SQLite); with one (PostgreSQL),
    ``folder`` still holds the models, and ``storage`` may name the other servers.
    """
    config = cheap_config(
        database_url or f"sqlite:///{folder / 'ecorec.db'}",
        models_url=str(folder / "models"),
        **storage,
    )
    with Stores(config.storage) as stores:
        spec = PlatformSpec(users=120, items=300, creators=20, advertisers=2, days=3, seed=11)
        write_platform(spec, stores.catalog, stores.events)
        train_all(build_components(config), stores)
        # users come with their history, as after `ecorec ingest`: not everyone looks new
        rebuild_profiles(stores.events, ItemLookup.from_catalog(stores.catalog), stores.profiles)
    return config


async def delete_stream(name: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    client = await nats.connect(NATS)
    try:
        await client.jetstream().delete_stream(name)
    except NotFoundError:
        pass
    finally:
        await client.close()


@contextmanager
def server_storage(folder: Path) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database, Redis prefix and NATS stream on 127.0.0.1, dropped after."""
    import psycopg
    import redis

    name = f"ecorec_svc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    prefix = f"test-svc-{name}"
    try:
        yield {
            "database_url": f"postgresql://postgres@127.0.0.1:5432/{name}",
            "profiles_url": f"redis://127.0.0.1:6379/0?prefix={prefix}",
            "stream_url": f"{NATS}?stream={name}&subject=test.{name}&durable={name}",
            "outbox_path": str(folder / "outbox.db"),
        }
    finally:
        asyncio.run(delete_stream(name))
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class Service:
    """A running app with one key per role."""

    client: TestClient
    config: EcorecConfig
    keys: dict[str, str]
    user_ids: list[str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    @property
    def state(self) -> ServiceState:
        """The running app's shared state (its writers, nearline, pipeline)."""
        state: ServiceState = self.client.app.state.service  # type: ignore[attr-defined]
        return state


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("servers", marks=pytest.mark.services)],
)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("service")
    with ExitStack() as stack:
        storage = stack.enter_context(server_storage(folder)) if request.param == "servers" else {}
        yield stack.enter_context(running_service(make_platform(folder, **storage)))


@contextmanager
def running_service(config: EcorecConfig) -> Iterator[Service]:
    """A TestClient over ``config``'s platform, with a key per role."""
    with Stores(config.storage) as stores:
        # users with a history, so exports and erasures have something to show
        user_ids = sorted({event.user_id for event in stores.events.scan()})[:50]
    store = KeyStore(config.storage.database_url)
    keys = {
        "client": store.create_key("client"),
        "admin": store.create_key("admin"),
        "user": store.create_key("user", user_id=user_ids[0]),
    }
    store.close()
    with TestClient(create_app(config)) as client:
        yield Service(client, config, keys, user_ids)
