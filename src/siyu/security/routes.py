"""API for operators: who am I, tokens, operators and roles, and the audit log (read-only).
(A member's assignment, consents, erasure and export are identity's routes.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from siyu.core.errors import REQUEST_INVALID
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.security import service
from siyu.security.auth import SESSION_COOKIE, OwnAccount, require
from siyu.security.enums import Permission, Role
from siyu.security.schemas import (
    ApiTokenRead,
    AuditRead,
    NewApiToken,
    OperatorRead,
    PasswordReset,
    Principal,
)

router = APIRouter(prefix="/api", tags=["operators"])

OperatorAdmin = Annotated[Principal, require(Permission.operators_manage)]


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class OperatorCreate(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field(default="", max_length=100)
    role: Role = Role.operator


class OperatorUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.get("/me")
def me(principal: OwnAccount) -> Principal:
    return principal.model_copy(update={"csrf_token": None})


@router.post("/me/password")
def change_password(
    body: PasswordChange, request: Request, principal: OwnAccount, db: DatabaseDep
) -> OperatorRead:
    """Change one's own password (the current one required); the caller's other console
    sessions end, the one sending this (if a session) stays."""
    with db.session_scope() as session:
        return service.change_password(
            session,
            principal,
            body.current_password,
            body.new_password,
            session_token=request.cookies.get(SESSION_COOKIE),
        )


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate,
    principal: Annotated[Principal, require(Permission.tokens_create)],
    db: DatabaseDep,
) -> NewApiToken:
    with db.session_scope() as session:
        return service.create_api_token(session, principal.operator_id, body.name, actor=principal)


@router.get("/tokens")
def list_tokens(
    principal: Annotated[Principal, require(Permission.tokens_create)], db: DatabaseDep
) -> list[ApiTokenRead]:
    """One's own tokens (owners and admins: the workspace's), newest first, never the secret."""
    with db.session_scope() as session:
        return service.list_api_tokens(session, principal)


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: Annotated[Principal, require(Permission.tokens_create)],
    db: DatabaseDep,
) -> ApiTokenRead:
    """Revoke a token at once (revoking it again changes nothing)."""
    with db.session_scope() as session:
        return service.revoke_api_token(session, principal, token_id)


@router.get("/operators", tags=["operators"])
def list_operators(principal: OperatorAdmin, db: DatabaseDep) -> list[OperatorRead]:
    with db.session_scope() as session:
        return service.list_operators(session, principal.workspace_id)


@router.post("/operators", status_code=201, tags=["operators"])
def add_operator(body: OperatorCreate, principal: OperatorAdmin, db: DatabaseDep) -> OperatorRead:
    with db.session_scope() as session:
        return service.add_operator(
            session, principal, body.email, body.password, name=body.name, role=body.role
        )


@router.patch("/operators/{operator_id}", tags=["operators"])
def update_operator(
    operator_id: Id, body: OperatorUpdate, principal: OperatorAdmin, db: DatabaseDep
) -> OperatorRead:
    """Change an operator's role, or disable them (their sessions and tokens end at once)."""
    if body.role is None and body.disabled is None:
        raise REQUEST_INVALID("send a role, or disabled: true or false")
    with db.session_scope() as session:
        result: OperatorRead | None = None
        if body.role is not None:
            result = service.change_role(session, principal, operator_id, body.role)
        if body.disabled is True:
            result = service.disable_operator(session, principal, operator_id)
        elif body.disabled is False:
            result = service.enable_operator(session, principal, operator_id)
        assert result is not None
        return result


@router.post("/operators/{operator_id}/reset-password", tags=["operators"])
def reset_password(operator_id: int, principal: OperatorAdmin, db: DatabaseDep) -> PasswordReset:
    """Replace another operator's password with a one-time one (in this answer only); their
    console sessions end and they set their own at the next sign-in."""
    with db.session_scope() as session:
        return service.reset_password(session, principal, operator_id)


@router.get("/audit", tags=["audit"])
def audit_log(
    principal: Annotated[Principal, require(Permission.audit_read)],
    db: DatabaseDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    before_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditRead]:
    """Search the audit log (newest first). There is no route that edits or deletes it."""
    with db.session_scope() as session:
        return service.search_audit(
            session,
            principal.workspace_id,
            action=action,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )
