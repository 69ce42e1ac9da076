"""A user's own data: consent, export and erasure.

A ``user`` token reaches only its own ``user_id`` (enforced by :func:`require`); ``admin`` may
act for anyone (support, legal requests); ``client`` may relay consent from the product's
settings screen but may not read or erase a user's data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from ecorec.core.profile import ProfileDelta
from ecorec.service.app import ServiceState, get_state
from ecorec.service.auth import KeyStore, Principal, Role, key_store, require
from ecorec.service.privacy import erase_user, export_user
from ecorec.service.schemas import ConsentRequest, ConsentResponse

router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[str, Path(min_length=1, max_length=128)]


@router.put("/{user_id}/consent", response_model=ConsentResponse)
def put_consent(
    user_id: UserId,
    body: ConsentRequest,
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.CLIENT, Role.ADMIN, Role.USER))],
) -> ConsentResponse:
    """Set consent flags; withdrawing ``personalization`` takes effect on the next request."""
    flags = {name: value for name, value in body.model_dump().items() if value is not None}
    profile = state.stores.profiles.apply(user_id, ProfileDelta(consent=flags))
    return ConsentResponse(user_id=user_id, consent=dict(profile.consent))


@router.get("/{user_id}/export")
def export(
    user_id: UserId,
    state: Annotated[ServiceState, Depends(get_state)],
    _caller: Annotated[Principal, Depends(require(Role.ADMIN, Role.USER))],
) -> dict[str, Any]:
    """Everything ecorec holds about the user, as JSON (the right of access)."""
    return export_user(state.stores, user_id)


@router.delete("/{user_id}")
def erase(
    user_id: UserId,
    state: Annotated[ServiceState, Depends(get_state)],
    keys: Annotated[KeyStore, Depends(key_store)],
    _caller: Annotated[Principal, Depends(require(Role.ADMIN, Role.USER))],
) -> dict[str, Any]:
    """Erase the user everywhere and keep them erased; the receipt holds no personal data.

    The user's own tokens are revoked too: an erased user keeps no credentials.
    """
    with state.ingest_lock:  # no event of this user slips in between the log and the delete
        stats = state.nearline.stats if state.nearline is not None else None
        receipt = erase_user(state.stores, user_id, state.deletions, nearline=stats)
    keys.revoke_user(user_id)
    return receipt
