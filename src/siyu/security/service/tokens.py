"""API tokens an operator holds: listing them (never the secret) and revoking one. Creating
one is `signin.create_api_token` (shown once, stored as a hash)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.security import errors, repository
from siyu.security.enums import Permission
from siyu.security.permissions import allows
from siyu.security.schemas import ApiTokenRead, Principal
from siyu.security.service.audit import record_audit


def sees_all_tokens(principal: Principal) -> bool:
    """Owners and admins see (and may revoke) every token of the workspace: a colleague's
    leaked token is stopped without waiting for them."""
    return allows(principal.role, Permission.operators_manage)


def list_api_tokens(session: Session, principal: Principal) -> list[ApiTokenRead]:
    """The tokens this operator may see, newest first: their own, or the workspace's."""
    operator_id = None if sees_all_tokens(principal) else principal.operator_id
    rows = repository.list_tokens(session, principal.workspace_id, operator_id=operator_id)
    return [
        ApiTokenRead(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            operator_id=token.operator_id,
            operator_email=email,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
        for token, email in rows
    ]


def revoke_api_token(session: Session, principal: Principal, token_id: int) -> ApiTokenRead:
    """Revoke a token at once (audited); revoking a revoked token changes nothing. A token
    the operator may not see is refused as one that does not exist."""
    found = repository.get_token_in_workspace(session, principal.workspace_id, token_id)
    if found is None or (
        found[0].operator_id != principal.operator_id and not sees_all_tokens(principal)
    ):
        raise errors.TOKEN_NOT_FOUND(f"no API token {token_id}")
    token, email = found
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        session.flush()
        record_audit(
            session,
            principal,
            "token.revoked",
            target_type="api_token",
            target_id=token.id,
            detail={"operator_id": token.operator_id},
        )
    return ApiTokenRead(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        operator_id=token.operator_id,
        operator_email=email,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )
