"""Admin routes (role ``admin``): curated pools, model activation, the effective configuration.

Activation is a hot reload with no failed request: the registry's pointer moves, a whole new
pipeline is built beside the serving one, and only then is the reference swapped. A build that
fails puts the pointer back and leaves the old pipeline serving.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field, model_validator

from ecorec.core.config import ConfigError
from ecorec.core.entities import CuratedPool, Item
from ecorec.data.registry import ModelIntegrityError, ModelNotFoundError
from ecorec.service.app import ServiceState, build_serving, get_state, install
from ecorec.service.auth import Role, require
from ecorec.service.schemas import Body, ErrorResponse, Id, RequestRejected

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require(Role.ADMIN))])
PoolId = Annotated[str, Path(min_length=1, max_length=128)]
NO_POOL: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such pool"}
}
#: config keys whose values are never shown, whatever section they sit in
_SECRET_WORDS = ("password", "secret", "token", "key")


class PoolIn(Body):
    """``PUT /v1/admin/pools/{pool_id}``: the whole pool (a PUT replaces it)."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)]
    starts_at: Annotated[float, Field(ge=0)] = 0.0
    ends_at: Annotated[float, Field(ge=0)] | None = None
    segments: Annotated[list[Id], Field(max_length=1_000)] = Field(default_factory=list)
    position_hint: Annotated[int, Field(ge=0, le=200)] | None = None

    @model_validator(mode="after")
    def _window(self) -> PoolIn:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PoolOut(BaseModel):
    """A curated pool as stored."""

    pool_id: str
    name: str
    item_ids: list[str]
    starts_at: float
    ends_at: float | None
    segments: list[str]
    position_hint: int | None


class ActivateIn(Body):
    """``POST /v1/admin/models/{name}/activate``: the saved version to serve."""

    version: Annotated[str, Field(min_length=1, max_length=128)]


class ModelOut(BaseModel):
    """One registry model: its saved versions (oldest first) and the active one."""

    name: str
    active: str | None
    versions: list[str]


def _pool_out(pool: CuratedPool) -> PoolOut:
    return PoolOut(
        pool_id=pool.pool_id,
        name=pool.name,
        item_ids=list(pool.item_ids),
        starts_at=pool.starts_at,
        ends_at=pool.ends_at,
        segments=list(pool.segments),
        position_hint=pool.position_hint,
    )


@router.get("/pools", response_model=list[PoolOut])
def list_pools(state: Annotated[ServiceState, Depends(get_state)]) -> list[PoolOut]:
    """Every curated pool, in id order."""
    return [_pool_out(pool) for pool in state.stores.catalog.scan(CuratedPool)]


@router.get("/pools/{pool_id}", response_model=PoolOut, responses=NO_POOL)
def get_pool(pool_id: PoolId, state: Annotated[ServiceState, Depends(get_state)]) -> PoolOut:
    """One curated pool."""
    pool = state.stores.catalog.get(CuratedPool, [pool_id]).get(pool_id)
    if pool is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pool {pool_id!r}")
    return _pool_out(pool)


@router.put(
    "/pools/{pool_id}",
    response_model=PoolOut,
    responses={422: {"model": RequestRejected, "description": "a bad body, or unknown items"}},
)
def put_pool(
    pool_id: PoolId, body: PoolIn, state: Annotated[ServiceState, Depends(get_state)]
) -> PoolOut:
    """Create or replace a pool; every item must exist (422 names the unknown ones)."""
    known = state.stores.catalog.get(Item, body.item_ids)
    unknown = [item_id for item_id in dict.fromkeys(body.item_ids) if item_id not in known]
    if unknown:
        shown = ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        raise HTTPException(422, f"unknown items: {shown}")
    pool = CuratedPool(
        pool_id=pool_id,
        name=body.name,
        item_ids=tuple(body.item_ids),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        segments=tuple(body.segments),
        position_hint=body.position_hint,
    )
    state.stores.catalog.put([pool])
    return _pool_out(pool)


@router.delete("/pools/{pool_id}", status_code=204, responses=NO_POOL)
def delete_pool(pool_id: PoolId, state: Annotated[ServiceState, Depends(get_state)]) -> None:
    """Remove a pool."""
    if not state.stores.catalog.delete(CuratedPool, [pool_id]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pool {pool_id!r}")


@router.get("/models", response_model=list[ModelOut])
def list_models(state: Annotated[ServiceState, Depends(get_state)]) -> list[ModelOut]:
    """Every model in the registry with its saved and active versions."""
    registry = state.stores.registry
    return [
        ModelOut(name=name, active=registry.active(name), versions=registry.versions(name))
        for name in registry.names()
    ]


@router.post(
    "/models/{name}/activate",
    response_model=ModelOut,
    responses={
        404: {"model": ErrorResponse, "description": "unknown model or version"},
        409: {
            "model": ErrorResponse,
            "description": "the pipeline could not be built; the old one still serves",
        },
        422: {
            "model": RequestRejected,
            "description": "a bad body, or the version's files fail their manifest",
        },
    },
)
def activate(
    name: Annotated[str, Path(min_length=1, max_length=128)],
    body: ActivateIn,
    state: Annotated[ServiceState, Depends(get_state)],
) -> ModelOut:
    """Serve ``version`` of ``name``: build the new pipeline first, then swap it in."""
    registry = state.stores.registry
    with state.admin_lock:
        try:
            previous = registry.active(name)
            registry.activate(name, body.version)
        except (ModelNotFoundError, ValueError) as exc:  # ValueError: a malformed name
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except ModelIntegrityError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            built = build_serving(state)
        except (ConfigError, ModelIntegrityError, OSError, ValueError) as exc:
            _restore(state, name, previous)
            log.warning("activation of %s %s failed: %s", name, body.version, exc)
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"pipeline not rebuilt, old one still serves: {exc}"
            ) from None
        install(state, built)
    return ModelOut(name=name, active=registry.active(name), versions=registry.versions(name))


def _restore(state: ServiceState, name: str, previous: str | None) -> None:
    """Point the registry back at the version the serving pipeline was built from."""
    if previous is None:
        return
    try:
        state.stores.registry.activate(name, previous)
    except (ModelNotFoundError, ModelIntegrityError) as exc:
        log.error("could not restore %s to %s: %s", name, previous, exc)


@router.get("/config")
def show_config(state: Annotated[ServiceState, Depends(get_state)]) -> dict[str, Any]:
    """The effective configuration, with passwords in URLs and secret-named keys masked."""
    redacted: dict[str, Any] = _redact(state.config.model_dump(mode="json"))
    return redacted


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if isinstance(value, str):
        if value and any(word in key.lower() for word in _SECRET_WORDS):
            return "***"
        return _mask_url(value)
    return value


def _mask_url(value: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; anything else unchanged."""
    if "://" not in value or "@" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
