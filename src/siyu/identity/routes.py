"""API for members: lookup, search, timeline, merges and the review list; event ingestion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from siyu.core.http import DatabaseDep
from siyu.identity import service
from siyu.identity.models import ConflictStatus
from siyu.identity.schemas import (
    BATCH_EXAMPLE,
    ConflictRead,
    IngestReport,
    MemberRead,
    MergeRead,
    TimelinePage,
)
from siyu.security.auth import Authenticated

router = APIRouter(prefix="/api", tags=["members"])


class MergeRequest(BaseModel):
    merged_member_id: int = Field(gt=0, description="the member that is folded into this one")
    conflict_id: int | None = Field(default=None, gt=0)


@router.post("/events", tags=["events"])
def ingest_events(
    principal: Authenticated,
    db: DatabaseDep,
    events: Annotated[list[dict[str, Any]], Body(examples=[BATCH_EXAMPLE])],
) -> IngestReport:
    """Ingest up to 1,000 canonical events atomically: all are written, or none."""
    with db.session_scope() as session:
        return service.ingest_events(session, principal.workspace_id, events)


@router.get("/members")
def search_members(
    principal: Authenticated,
    db: DatabaseDep,
    phone: str | None = None,
    openid: str | None = None,
    unionid: str | None = None,
    external_id: str | None = None,
    number: Annotated[int | None, Query(gt=0)] = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MemberRead]:
    with db.session_scope() as session:
        return service.search_members(
            session,
            principal.workspace_id,
            phone=phone,
            openid=openid,
            unionid=unionid,
            external_id=external_id,
            number=number,
            query=q,
            limit=limit,
            offset=offset,
        )


@router.get("/members/by-number/{number}")
def member_by_number(number: int, principal: Authenticated, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        return service.get_member_by_number(session, principal.workspace_id, number)


@router.get("/members/{member_id}")
def get_member(member_id: int, principal: Authenticated, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        return service.get_member(session, principal.workspace_id, member_id)


@router.get("/members/{member_id}/timeline")
def timeline(
    member_id: int,
    principal: Authenticated,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> TimelinePage:
    with db.session_scope() as session:
        return service.get_timeline(
            session, principal.workspace_id, member_id, limit=limit, cursor=cursor
        )


@router.get("/members/{member_id}/merges")
def member_merges(member_id: int, principal: Authenticated, db: DatabaseDep) -> list[MergeRead]:
    with db.session_scope() as session:
        return service.list_merges(session, principal.workspace_id, member_id)


@router.post("/members/{member_id}/merge", status_code=201)
def merge(
    member_id: int, body: MergeRequest, principal: Authenticated, db: DatabaseDep
) -> MergeRead:
    with db.session_scope() as session:
        return service.merge_members(
            session,
            principal.workspace_id,
            member_id,
            body.merged_member_id,
            actor=principal.actor,
            conflict_id=body.conflict_id,
        )


@router.post("/merges/{merge_id}/undo")
def undo(merge_id: int, principal: Authenticated, db: DatabaseDep) -> MergeRead:
    with db.session_scope() as session:
        return service.undo_merge(session, principal.workspace_id, merge_id, actor=principal.actor)


@router.get("/merge-conflicts")
def conflicts(
    principal: Authenticated, db: DatabaseDep, status: ConflictStatus | None = ConflictStatus.open
) -> list[ConflictRead]:
    with db.session_scope() as session:
        return service.list_conflicts(session, principal.workspace_id, status)


@router.post("/merge-conflicts/{conflict_id}/dismiss")
def dismiss(conflict_id: int, principal: Authenticated, db: DatabaseDep) -> ConflictRead:
    with db.session_scope() as session:
        return service.dismiss_conflict(
            session, principal.workspace_id, conflict_id, actor=principal.actor
        )
