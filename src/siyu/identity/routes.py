"""API for members: lookup, search, timeline, merges and the review list; event ingestion.

Each route declares its permission; a sales rep sees only the members assigned to them (any
other member is a 404, as if it did not exist), and identifiers are shown as the role allows.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field, ValidationError

from siyu.core.errors import Invalid
from siyu.core.http import DatabaseDep
from siyu.identity import service
from siyu.identity.models import ConflictStatus
from siyu.identity.schemas import (
    BATCH_EXAMPLE,
    ConflictRead,
    IngestReport,
    MemberRead,
    MergeRead,
    Overview,
    PersonRef,
    ResolvedMember,
    TimelinePage,
    normalize_phone,
)
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.permissions import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces

router = APIRouter(prefix="/api", tags=["members"])

Ingest = Annotated[Principal, require(Permission.events_ingest)]
Reader = Annotated[Principal, require(Permission.members_read)]
TimelineReader = Annotated[Principal, require(Permission.members_timeline)]
Merger = Annotated[Principal, require(Permission.members_merge)]
Analyst = Annotated[Principal, require(Permission.analytics_read)]
Tagger = Annotated[Principal, require(Permission.members_tag)]
Resolver = Annotated[Principal, require(Permission.events_ingest)]
RESOLVE_MAX = 1000


class TagRequest(BaseModel):
    tag: str = Field(min_length=1, max_length=64, examples=["blacklist"])


class TagsChanged(BaseModel):
    member_id: int
    tags: list[str]


class ResolveBatch(BaseModel):
    appid: str = Field(min_length=2, max_length=64)
    people: list[dict[str, Any]] = Field(min_length=1, max_length=RESOLVE_MAX)


class MergeRequest(BaseModel):
    merged_member_id: int = Field(gt=0, description="the member that is folded into this one")
    conflict_id: int | None = Field(default=None, gt=0)


def is_phone(text: str | None) -> bool:
    if not text:
        return False
    try:
        normalize_phone(text.strip())
    except ValueError:
        return False
    return True


@router.post("/events", tags=["events"])
def ingest_events(
    principal: Ingest,
    db: DatabaseDep,
    events: Annotated[list[dict[str, Any]], Body(examples=[BATCH_EXAMPLE])],
) -> IngestReport:
    """Ingest up to 1,000 canonical events atomically: all are written, or none."""
    with db.session_scope() as session:
        return service.ingest_events(session, principal.workspace_id, events)


@router.get("/overview", tags=["analytics"])
def overview(
    principal: Analyst, db: DatabaseDep, days: Annotated[int, Query(ge=1, le=90)] = 30
) -> Overview:
    """Aggregate figures only: members, today's counts, a daily series."""
    with db.session_scope() as session:
        return service.overview(session, principal.workspace_id, "Asia/Shanghai", days)


@router.get("/members")
def search_members(
    principal: Reader,
    db: DatabaseDep,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    openid: Annotated[str | None, Query(max_length=128)] = None,
    unionid: Annotated[str | None, Query(max_length=128)] = None,
    external_id: Annotated[str | None, Query(max_length=128)] = None,
    number: Annotated[int | None, Query(gt=0)] = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MemberRead]:
    with db.session_scope() as session:
        found = service.search_members(
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
            within=security.visible_members(session, principal),
        )
        if phone or is_phone(q):
            security.record_audit(
                session,
                principal,
                "member.phone_searched",
                target_type="member",
                detail={"results": len(found)},
            )
        return security.present_members(found, principal)


def _viewed(session: Any, principal: Principal, member: MemberRead) -> MemberRead:
    security.ensure_member_visible(session, principal, member.id)
    security.record_audit(
        session, principal, "member.viewed", target_type="member", target_id=member.id
    )
    return security.present_member(member, principal)


@router.get("/members/by-number/{number}")
def member_by_number(number: int, principal: Reader, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        member = service.get_member_by_number(session, principal.workspace_id, number)
        return _viewed(session, principal, member)


@router.get("/members/{member_id}")
def get_member(member_id: int, principal: Reader, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        security.ensure_member_visible(session, principal, member_id)
        member = service.get_member(session, principal.workspace_id, member_id)
        return _viewed(session, principal, member)


@router.get("/members/{member_id}/timeline")
def timeline(
    member_id: int,
    principal: TimelineReader,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TimelinePage:
    with db.session_scope() as session:
        security.ensure_member_visible(session, principal, member_id)
        return service.get_timeline(
            session, principal.workspace_id, member_id, limit=limit, cursor=cursor
        )


@router.post("/members/resolve", tags=["members"])
def resolve_members(
    body: ResolveBatch, principal: Resolver, db: DatabaseDep
) -> list[ResolvedMember]:
    """Resolve up to 1,000 people of one app to members at once (a CRM or follower sync):
    each as the identity hub resolves one, in order; all or nothing."""
    people = []
    errors = []
    for index, raw in enumerate(body.people):
        try:
            people.append(PersonRef.model_validate({**raw, "appid": body.appid}))
        except ValidationError as exc:
            errors.append({"line": index, "code": "identity.invalid_person", "reason": str(exc)})
    if errors:
        raise Invalid(
            "identity.invalid_batch", f"{len(errors)} people are invalid", data={"errors": errors}
        )
    with db.session_scope() as session:
        app = workspaces.get_app_by_appid(session, body.appid, principal.workspace_id)
        return service.resolve_members(session, app, people)


@router.post("/members/{member_id}/tags", tags=["members"])
def tag_member(member_id: int, body: TagRequest, principal: Tagger, db: DatabaseDep) -> TagsChanged:
    with db.session_scope() as session:
        security.ensure_member_visible(session, principal, member_id)
        service.tag_members(
            session, principal.workspace_id, [member_id], body.tag, actor=principal.actor
        )
        security.record_audit(
            session, principal, "member.tagged", target_type="member", target_id=member_id
        )
        return TagsChanged(member_id=member_id, tags=service.member_tags(session, member_id))


@router.delete("/members/{member_id}/tags/{tag}", tags=["members"])
def untag_member(member_id: int, tag: str, principal: Tagger, db: DatabaseDep) -> TagsChanged:
    with db.session_scope() as session:
        security.ensure_member_visible(session, principal, member_id)
        service.untag_members(session, principal.workspace_id, [member_id], tag)
        security.record_audit(
            session, principal, "member.untagged", target_type="member", target_id=member_id
        )
        return TagsChanged(member_id=member_id, tags=service.member_tags(session, member_id))


@router.get("/tags", tags=["members"])
def tags(principal: Reader, db: DatabaseDep) -> dict[str, int]:
    """Every tag of the workspace and how many members carry it."""
    with db.session_scope() as session:
        return service.tag_counts(session, principal.workspace_id)


@router.get("/members/{member_id}/merges")
def member_merges(member_id: int, principal: Merger, db: DatabaseDep) -> list[MergeRead]:
    with db.session_scope() as session:
        return service.list_merges(session, principal.workspace_id, member_id)


@router.post("/members/{member_id}/merge", status_code=201)
def merge(member_id: int, body: MergeRequest, principal: Merger, db: DatabaseDep) -> MergeRead:
    with db.session_scope() as session:
        merged = service.merge_members(
            session,
            principal.workspace_id,
            member_id,
            body.merged_member_id,
            actor=principal.actor,
            conflict_id=body.conflict_id,
        )
        audit_merge(session, principal, merged)
        return merged


def audit_merge(session: Any, principal: Principal, merged: MergeRead) -> None:
    security.record_audit(
        session,
        principal,
        "member.merged",
        target_type="member",
        target_id=merged.survivor_id,
        detail={"merged_id": merged.merged_id, "merge_id": merged.id},
    )


@router.post("/merges/{merge_id}/undo")
def undo(merge_id: int, principal: Merger, db: DatabaseDep) -> MergeRead:
    with db.session_scope() as session:
        undone = service.undo_merge(
            session, principal.workspace_id, merge_id, actor=principal.actor
        )
        security.record_audit(
            session,
            principal,
            "member.merge_undone",
            target_type="merge",
            target_id=merge_id,
            detail={"survivor_id": undone.survivor_id, "merged_id": undone.merged_id},
        )
        return undone


@router.get("/merge-conflicts")
def conflicts(
    principal: Merger, db: DatabaseDep, status: ConflictStatus | None = ConflictStatus.open
) -> list[ConflictRead]:
    with db.session_scope() as session:
        return service.list_conflicts(session, principal.workspace_id, status)


@router.post("/merge-conflicts/{conflict_id}/dismiss")
def dismiss(conflict_id: int, principal: Merger, db: DatabaseDep) -> ConflictRead:
    with db.session_scope() as session:
        dismissed = service.dismiss_conflict(
            session, principal.workspace_id, conflict_id, actor=principal.actor
        )
        security.record_audit(
            session, principal, "conflict.dismissed", target_type="conflict", target_id=conflict_id
        )
        return dismissed
