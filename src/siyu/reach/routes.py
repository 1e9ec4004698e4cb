"""Reach's staff API: templates, notify, the send log, ledger, preferences, policy, broadcasts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Offset
from siyu.identity import service as identity
from siyu.reach import service
from siyu.reach.enums import SendStatus
from siyu.reach.schemas import (
    BroadcastCreate,
    BroadcastRead,
    LedgerRead,
    LegacyReport,
    NotifyIn,
    PreferencesIn,
    PreferencesRead,
    SendRead,
    TemplateCreate,
    TemplateRead,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/api/reach", tags=["reach"])

Reader = Annotated[Principal, require(Permission.reach_read)]
Sender = Annotated[Principal, require(Permission.reach_send)]
Manager = Annotated[Principal, require(Permission.reach_manage)]


@router.get("/templates")
def list_templates(principal: Reader, db: DatabaseDep) -> list[TemplateRead]:
    with db.session_scope() as session:
        return service.list_templates(session, principal.workspace_id)


@router.post("/templates", status_code=201)
def add_template(body: TemplateCreate, principal: Manager, db: DatabaseDep) -> TemplateRead:
    """One channel's form of a notice (OA template, MP subscribe template, or a text)."""
    with db.session_scope() as session:
        return service.add_template(session, principal.workspace_id, body, principal)


@router.post("/notify")
def notify(body: NotifyIn, principal: Sender, db: DatabaseDep) -> SendRead:
    """Send by intent: the channel the ledger allows, or held/dropped with the reason."""
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, body.member_id)
        intent = service.Intent(
            member_id=body.member_id,
            template_key=body.template_key,
            data=body.data,
            category=body.category,
            urgency=body.urgency,
            dedupe_key=body.dedupe_key,
        )
        return service.notify(session, principal.workspace_id, intent, principal)


@router.get("/sends")
def list_sends(
    principal: Reader,
    db: DatabaseDep,
    member_id: Id | None = None,
    status: SendStatus | None = None,
    broadcast_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[SendRead]:
    with db.session_scope() as session:
        return service.list_sends(
            session,
            principal.workspace_id,
            member_id=member_id,
            status=status,
            broadcast_id=broadcast_id,
            limit=limit,
            offset=offset,
        )


@router.get("/members/{member_id}/ledger")
def member_ledger(member_id: Id, principal: Reader, db: DatabaseDep) -> LedgerRead:
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, member_id)
        return service.get_ledger(session, principal.workspace_id, member_id)


@router.get("/members/{member_id}/preferences")
def get_preferences(member_id: Id, principal: Reader, db: DatabaseDep) -> PreferencesRead:
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, member_id)
        return service.get_preferences(session, principal.workspace_id, member_id)


@router.put("/members/{member_id}/preferences")
def set_preferences(
    member_id: Id, body: PreferencesIn, principal: Sender, db: DatabaseDep
) -> PreferencesRead:
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, member_id)
        return service.set_preferences(session, principal.workspace_id, member_id, body, principal)


@router.get("/legacy-report")
def legacy_report(
    principal: Reader,
    db: DatabaseDep,
    appid: Annotated[str, Query(min_length=2, max_length=32)],
    since: datetime,
    until: datetime,
) -> LegacyReport:
    """The pre-2020 Mini Program template-message rules replayed over a period's history."""
    with db.session_scope() as session:
        return service.legacy_report(session, principal.workspace_id, appid, since, until)


@router.get("/policy")
def get_policy(principal: Reader, db: DatabaseDep) -> dict[str, Any]:
    with db.session_scope() as session:
        return service.get_policy(session, principal.workspace_id).model_dump(mode="json")


@router.put("/policy")
def set_policy(
    principal: Manager, db: DatabaseDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    with db.session_scope() as session:
        policy = service.set_policy(session, principal.workspace_id, body, principal)
        return policy.model_dump(mode="json")


@router.post("/broadcasts", status_code=201)
def create_broadcast(body: BroadcastCreate, principal: Sender, db: DatabaseDep) -> BroadcastRead:
    """A notice to an audience (tag, followers, a list): scheduled, throttled, per recipient."""
    with db.session_scope() as session:
        return service.create_broadcast(session, principal.workspace_id, body, principal)


@router.get("/broadcasts")
def list_broadcasts(principal: Reader, db: DatabaseDep) -> list[BroadcastRead]:
    with db.session_scope() as session:
        return service.list_broadcasts(session, principal.workspace_id)


@router.get("/broadcasts/{broadcast_id}")
def get_broadcast(broadcast_id: Id, principal: Reader, db: DatabaseDep) -> BroadcastRead:
    with db.session_scope() as session:
        return service.get_broadcast(session, principal.workspace_id, broadcast_id)


@router.post("/broadcasts/{broadcast_id}/pause")
def pause_broadcast(broadcast_id: Id, principal: Sender, db: DatabaseDep) -> BroadcastRead:
    with db.session_scope() as session:
        return service.pause_broadcast(
            session, principal.workspace_id, broadcast_id, principal, pause=True
        )


@router.post("/broadcasts/{broadcast_id}/resume")
def resume_broadcast(broadcast_id: Id, principal: Sender, db: DatabaseDep) -> BroadcastRead:
    with db.session_scope() as session:
        return service.pause_broadcast(
            session, principal.workspace_id, broadcast_id, principal, pause=False
        )
