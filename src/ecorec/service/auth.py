"""API keys: who may call which route.

Keys are never open by default: ``ecorec keys create`` makes one and prints it once. The
database keeps only the SHA-256 of each key (a leaked table cannot be replayed), looked up by a
public key id and compared in constant time. Roles: ``client`` (a product backend: recommend,
events), ``admin`` (admin routes and any user's data) and ``user`` (a token bound to one
``user_id``: that user's own export, consent and erasure).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ecorec.core.recent import Recent
from ecorec.data.catalog.sql import create_catalog_engine


class Role(StrEnum):
    """What a key may do; see the module docstring."""

    CLIENT = "client"
    ADMIN = "admin"
    USER = "user"


#: Prefix of every key, so a leaked one is recognisable (secret scanners, logs).
KEY_PREFIX = "eco"

_metadata = sa.MetaData()
_keys = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("created", sa.Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a key identifies: its role and, for a ``user`` token, its user."""

    key_id: str
    role: Role
    user_id: str | None = None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """Hashed API keys in the ``api_keys`` table of the configured database.

    A verified key is remembered for ``cache_seconds`` (by its digest, never in plain text):
    every request presents a key, and a database round trip per request measured a tenth of
    the service's own work. Revoking through this store (an erased user's tokens) forgets at
    once; a key deleted by another process stops working within ``cache_seconds``.

    Args:
        database_url: ``sqlite:///FILE`` or ``postgresql://...`` (the installation's database).
        cache_seconds: how long a verified key is trusted without asking the database again.
        clock: monotonic seconds (tests step it).

    Example:
        >>> keys = KeyStore("sqlite:///ecorec.db")  # doctest: +SKIP
        >>> key = keys.create_key("client")  # shown once, stored hashed  # doctest: +SKIP
        >>> keys.verify(key).role  # doctest: +SKIP
        <Role.CLIENT: 'client'>

    """

    def __init__(
        self,
        database_url: str,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = create_catalog_engine(database_url)
        _metadata.create_all(self.engine)
        # digest of a verified key -> its principal (only keys the database confirmed)
        self._verified = Recent[str, Principal](cache_seconds, clock, limit=10_000)
        self._lock = threading.Lock()  # a revocation is not raced by a verification

    def create_key(self, role: Role | str, user_id: str | None = None) -> str:
        """Store a new key and return its plaintext, which is not kept anywhere.

        Raises:
            ValueError: an unknown role, a ``user`` token without ``user_id``, or a
                ``user_id`` on a role that is not ``user``.

        """
        try:
            kind = Role(role)
        except ValueError:
            raise ValueError(
                f"unknown role {role!r} (one of {', '.join(r.value for r in Role)})"
            ) from None
        if (kind is Role.USER) != bool(user_id):
            raise ValueError("a user_id is required for role 'user' and only for it")
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            conn.execute(
                _keys.insert().values(
                    key_id=key_id,
                    secret_sha256=_digest(key),
                    role=kind.value,
                    user_id=user_id,
                    created=time.time(),
                )
            )
        return key

    def verify(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when it is unknown or malformed."""
        prefix, _, rest = key.partition("_")
        key_id, _, _secret = rest.partition("_")
        if prefix != KEY_PREFIX or not key_id or len(key_id) > 32:
            return None
        digest = _digest(key)
        remembered = self._verified.get(digest)
        if remembered is not None:
            return remembered
        with self._lock:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(_keys).where(_keys.c.key_id == key_id)).first()
            if row is None or not hmac.compare_digest(row.secret_sha256, digest):
                return None
            principal = Principal(key_id, Role(row.role), row.user_id)
            self._verified.put(digest, principal)
        return principal

    def revoke_user(self, user_id: str) -> int:
        """Delete every token bound to ``user_id`` (an erased user keeps no credentials)."""
        with self._lock:
            with self.engine.begin() as conn:
                deleted = conn.execute(_keys.delete().where(_keys.c.user_id == user_id)).rowcount
            self._verified.forget()
        return int(deleted)

    def close(self) -> None:
        self.engine.dispose()


_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


async def key_store(request: Request) -> KeyStore:
    """The app's :class:`KeyStore` (set by the lifespan; overridable in tests).

    This and :func:`require`'s check are ``async`` so FastAPI calls them on the event loop
    instead of handing each to its thread pool (a hop per dependency per request).
    """
    keys: KeyStore = request.app.state.keys
    return keys


def require(*roles: Role | str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose key has one of ``roles``.

    Reads ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``: 401 without a valid key,
    403 with a valid key of another role. A ``user`` token is further refused (403) on a route
    whose ``user_id`` path parameter names someone else, so no user reaches another's data.
    """
    allowed = {Role(r) for r in roles}

    async def dependency(
        request: Request,
        keys: Annotated[KeyStore, Depends(key_store)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        key = bearer.credentials if bearer is not None else api_key
        principal = keys.verify(key) if key else None
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API key is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key may not call this route")
        target = request.path_params.get("user_id")
        if principal.role is Role.USER and target is not None and target != principal.user_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a user token may only act on itself")
        return principal

    return dependency
