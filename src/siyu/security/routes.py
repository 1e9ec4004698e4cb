"""API for operators and compliance: who am I, tokens, operators and roles, the audit log
(read-only), member assignment, consents, erasure and a member's data export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from siyu.core.errors import Invalid
from siyu.core.http import DatabaseDep
from siyu.security import erasure, service
from siyu.security.auth import SignedIn, require
from siyu.security.models import Role
from siyu.security.permissions import Permission
from siyu.security.schemas import (
    AuditRead,
    ConsentRead,
    ErasureProof,
    NewApiToken,
    OperatorRead,
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


class AssigneeSet(BaseModel):
    operator_id: int | None = Field(default=None, gt=0)


class Assignee(BaseModel):
    member_id: int
    operator_id: int | None


@router.get("/me")
def me(principal: SignedIn) -> Principal:
    return principal.model_copy(update={"csrf_token": None})


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate,
    principal: Annotated[Principal, require(Permission.tokens_create)],
    db: DatabaseDep,
) -> NewApiToken:
    with db.session_scope() as session:
        token = service.create_api_token(session, principal.operator_id, body.name)
        service.record_audit(
            session, principal, "token.created", target_type="api_token", target_id=token.id
        )
        return token


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
    operator_id: int, body: OperatorUpdate, principal: OperatorAdmin, db: DatabaseDep
) -> OperatorRead:
    """Change an operator's role, or disable them (their sessions and tokens end at once)."""
    if body.role is None and body.disabled is None:
        raise Invalid("request.invalid", "send a role, or disabled: true or false")
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
    before_id: Annotated[int | None, Query(gt=0)] = None,
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


@router.put("/members/{member_id}/assignee", tags=["members"])
def assign(
    member_id: int,
    body: AssigneeSet,
    principal: Annotated[Principal, require(Permission.members_assign)],
    db: DatabaseDep,
) -> Assignee:
    with db.session_scope() as session:
        operator_id = service.assign_member(session, principal, member_id, body.operator_id)
    return Assignee(member_id=member_id, operator_id=operator_id)


@router.get("/members/{member_id}/consents", tags=["members"])
def consents(
    member_id: int,
    principal: Annotated[Principal, require(Permission.consents_read)],
    db: DatabaseDep,
) -> list[ConsentRead]:
    with db.session_scope() as session:
        service.ensure_member_visible(session, principal, member_id)
        return service.list_consents(session, principal.workspace_id, member_id)


@router.post("/members/{member_id}/erase", tags=["members"])
def erase(
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_erase)],
    db: DatabaseDep,
) -> ErasureProof:
    """Erase the member's personal data everywhere; counts and amounts stay. Irreversible."""
    with db.session_scope() as session:
        return erasure.erase_member(
            session, principal.workspace_id, member_id, actor=principal.actor, via="staff"
        )


@router.get("/members/{member_id}/export", tags=["members"])
def export(
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_export)],
    db: DatabaseDep,
) -> dict[str, Any]:
    """Everything siyu holds about the member, for their data request (audited)."""
    with db.session_scope() as session:
        data = erasure.export_member(session, principal.workspace_id, member_id)
        service.record_audit(
            session, principal, "member.exported", target_type="member", target_id=member_id
        )
        return data
