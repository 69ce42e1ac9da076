"""Every route x every role: 401 without a valid key, 403 with the wrong role or user."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecorec.core.entities import Item
from ecorec.service.auth import KeyStore, Role
from tests.service.conftest import Service

TS = 1_800_000_000.0


def call(service: Service, route: str, role: str | None, header: str = "bearer") -> int:
    """Status of ``route`` called with ``role``'s key; ``other`` is the user token on another id."""
    own = service.user_ids[0]
    target = service.user_ids[5] if role == "other" else own
    key = service.keys["user" if role == "other" else role] if role else None
    headers: dict[str, str] = {}
    if key and header == "bearer":
        headers["Authorization"] = f"Bearer {key}"
    elif key:
        headers["X-API-Key"] = key
    client = service.client
    if route == "recommend":
        body = {"user_id": "auth-matrix", "n": 3}
        return int(client.post("/v1/recommend", json=body, headers=headers).status_code)
    if route == "events":
        event = {
            "event_id": f"auth-{role}",
            "ts": TS,
            "user_id": "auth-matrix",
            "type": "click",
            "item_id": "i1",
        }
        return int(client.post("/v1/events", json={"events": [event]}, headers=headers).status_code)
    if route == "consent":
        path = f"/v1/users/{target}/consent"
        return int(client.put(path, json={"training": True}, headers=headers).status_code)
    if route == "export":
        return int(client.get(f"/v1/users/{target}/export", headers=headers).status_code)
    if route == "explain":
        body = {"user_id": "auth-matrix", "n": 2}
        made = client.post("/v1/recommend", json=body, headers=service.auth("client")).json()
        path = f"/v1/recommend/{made['request_id']}/explain"
        return int(client.get(path, headers=headers).status_code)
    if route in ADMIN_GETS:
        pool = {"name": "auth", "item_ids": [first_item(service)], "starts_at": TS}
        client.put("/v1/admin/pools/auth", json=pool, headers=service.auth("admin"))
        return int(client.get(ADMIN_GETS[route], headers=headers).status_code)
    if route == "pool_put":
        pool = {"name": "auth", "item_ids": [first_item(service)], "starts_at": TS}
        return int(client.put("/v1/admin/pools/auth", json=pool, headers=headers).status_code)
    if route == "pool_delete":
        pool = {"name": "auth", "item_ids": [first_item(service)], "starts_at": TS}
        client.put("/v1/admin/pools/auth-del", json=pool, headers=service.auth("admin"))
        return int(client.delete("/v1/admin/pools/auth-del", headers=headers).status_code)
    if route == "activate":
        version = client.app.state.service.stores.registry.active("popular")  # type: ignore[attr-defined]
        path = "/v1/admin/models/popular/activate"
        return int(client.post(path, json={"version": version}, headers=headers).status_code)
    raise AssertionError(route)


#: admin read-only routes: name -> path
ADMIN_GETS = {
    "pools": "/v1/admin/pools",
    "pool_get": "/v1/admin/pools/auth",
    "models": "/v1/admin/models",
    "config": "/v1/admin/config",
}
#: who may call an admin route
ADMIN_ONLY = {None: 401, "client": 403, "admin": 200, "user": 403, "other": 403}


def first_item(service: Service) -> str:
    catalog = service.client.app.state.service.stores.catalog  # type: ignore[attr-defined]
    return str(catalog.ids(Item, limit=1)[0])


#: route -> role -> expected status; ``other`` is a user token used on another user's id.
MATRIX = {
    "recommend": {None: 401, "client": 200, "admin": 403, "user": 403, "other": 403},
    "events": {None: 401, "client": 200, "admin": 403, "user": 403, "other": 403},
    "consent": {None: 401, "client": 200, "admin": 200, "user": 200, "other": 403},
    "export": {None: 401, "client": 403, "admin": 200, "user": 200, "other": 403},
    "explain": {None: 401, "client": 200, "admin": 200, "user": 403, "other": 403},
    "pool_put": ADMIN_ONLY,
    "pool_get": ADMIN_ONLY,
    "pool_delete": {**ADMIN_ONLY, "admin": 204},
    "pools": ADMIN_ONLY,
    "models": ADMIN_ONLY,
    "config": ADMIN_ONLY,
    "activate": ADMIN_ONLY,
}


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_authorization_matrix(service: Service, route: str) -> None:
    got = {role: call(service, route, role) for role in MATRIX[route]}
    assert got == MATRIX[route]


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_x_api_key_header_is_accepted(service: Service, route: str) -> None:
    role = "client" if MATRIX[route]["client"] < 300 else "admin"
    assert call(service, route, role, "x-api-key") == MATRIX[route][role]


def test_delete_matrix(service: Service) -> None:
    """Erasure: clients, other users and anonymous callers are refused before anything runs."""
    victim = service.user_ids[6]
    client = service.client
    assert client.delete(f"/v1/users/{victim}").status_code == 401
    assert client.delete(f"/v1/users/{victim}", headers=service.auth("client")).status_code == 403
    assert client.delete(f"/v1/users/{victim}", headers=service.auth("user")).status_code == 403
    assert client.delete(f"/v1/users/{victim}", headers=service.auth("admin")).status_code == 200


def test_unknown_and_forged_keys_are_401(service: Service) -> None:
    client = service.client
    body = {"user_id": "x", "n": 1}
    forged = service.keys["client"][:-4] + "AAAA"
    for key in ("nonsense", "eco_deadbeef_secret", forged):
        response = client.post("/v1/recommend", json=body, headers={"X-API-Key": key})
        assert response.status_code == 401


def test_keys_are_stored_hashed_and_user_tokens_need_a_user(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    key = store.create_key(Role.CLIENT)
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM api_keys"))]
    assert len(rows) == 1
    assert rows[0][1] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in rows[0])
    principal = store.verify(key)
    assert principal is not None and principal.role is Role.CLIENT
    with pytest.raises(ValueError):
        store.create_key(Role.USER)
    with pytest.raises(ValueError):
        store.create_key(Role.CLIENT, user_id="u1")
    with pytest.raises(ValueError):
        store.create_key("root")
    store.close()


def test_verified_keys_are_remembered_briefly_and_revocation_is_immediate(tmp_path: Path) -> None:
    now = [0.0]
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    keys = KeyStore(url, cache_seconds=5.0, clock=lambda: now[0])
    client, user = keys.create_key("client"), keys.create_key("user", "u1")
    assert keys.verify(client) is not None and keys.verify(user) is not None
    with keys.engine.begin() as conn:  # deleted by another process
        conn.execute(sa.text("DELETE FROM api_keys WHERE role = 'client'"))
    assert keys.verify(client) is not None  # trusted for the window
    now[0] = 5.0
    assert keys.verify(client) is None
    keys.revoke_user("u1")  # revoked through this store: at once
    assert keys.verify(user) is None
    assert keys.verify(client.replace(client[-4:], "AAAA")) is None  # a wrong secret
    keys.close()
