"""API for members: lookup, search, timeline, tags, merges and the review list, assignment,
consents, erasure and a member's data export; event ingestion.

Each route declares its permission; a sales rep sees only the members assigned to them (any
other member is a 404, as if it did not exist), and identifiers are shown as the role allows.
Routes parse, call one service function and return what it gives.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number, Offset
from siyu.identity import errors, service
from siyu.identity.enums import ConflictStatus
from siyu.identity.schemas import (
    BATCH_EXAMPLE,
    ConflictRead,
    ConsentRead,
    ErasureProof,
    IngestReport,
    MemberRead,
    MergeRead,
    Overview,
    PersonRef,
    ResolvedMember,
    TimelinePage,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
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
CSV_FLUSH_BYTES = 64 * 1024


class TagRequest(BaseModel):
    tag: str = Field(min_length=1, max_length=64, examples=["blacklist"])


class TagsChanged(BaseModel):
    member_id: int
    tags: list[str]


class ResolveBatch(BaseModel):
    appid: str = Field(min_length=2, max_length=64)
    people: list[dict[str, Any]] = Field(min_length=1, max_length=RESOLVE_MAX)


class MergeRequest(BaseModel):
    merged_member_id: Id = Field(description="the member that is folded into this one")
    conflict_id: Id | None = None


class AssigneeSet(BaseModel):
    operator_id: Id | None = None


class Assignee(BaseModel):
    member_id: int
    operator_id: int | None


@router.post("/events", tags=["events"])
def ingest_events(
    principal: Ingest,
    db: DatabaseDep,
    # Items are validated by the service, after it counted them: typed here, a megabyte of
    # bad items was checked one by one on the event loop before any limit applied.
    events: Annotated[
        list[Any],
        Body(examples=[BATCH_EXAMPLE], json_schema_extra={"items": {"type": "object"}}),
    ],
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
    number: Number | None = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[MemberRead]:
    with db.session_scope() as session:
        return service.find_members(
            session,
            principal,
            query=q,
            phone=phone,
            openid=openid,
            unionid=unionid,
            external_id=external_id,
            number=number,
            limit=limit,
            offset=offset,
        ).members


@router.get("/members/by-number/{number}")
def member_by_number(number: Number, principal: Reader, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        return service.view_member_by_number(session, principal, number)


@router.get("/members/{member_id}")
def get_member(member_id: Id, principal: Reader, db: DatabaseDep) -> MemberRead:
    with db.session_scope() as session:
        return service.view_member(session, principal, member_id)


@router.get("/members/{member_id}/timeline")
def timeline(
    member_id: Id,
    principal: TimelineReader,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TimelinePage:
    with db.session_scope() as session:
        service.ensure_member_visible(session, principal, member_id)
        return service.get_timeline(
            session, principal.workspace_id, member_id, limit=limit, cursor=cursor
        )


@router.get("/exports/members-deidentified.csv", tags=["analytics"])
def export_deidentified(principal: Analyst, db: DatabaseDep) -> StreamingResponse:
    """Every member as figures only (pseudonym, dates, counts), streamed as CSV; audited."""
    with db.session_scope() as session:
        service.record_deidentified_export(session, principal)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(service.DEIDENTIFIED_COLUMNS)
        with db.session_scope() as session:
            for row in service.deidentified_members(session, principal.workspace_id):
                writer.writerow(row)
                if buffer.tell() > CSV_FLUSH_BYTES:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    filename = "members-deidentified.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/members/resolve", tags=["members"])
def resolve_members(
    body: ResolveBatch, principal: Resolver, db: DatabaseDep
) -> list[ResolvedMember]:
    """Resolve up to 1,000 people of one app to members at once (a CRM or follower sync):
    each as the identity hub resolves one, in order; all or nothing."""
    people = []
    refused = []
    for index, raw in enumerate(body.people):
        try:
            people.append(PersonRef.model_validate({**raw, "appid": body.appid}))
        except ValidationError as exc:
            refused.append({"line": index, "code": errors.INVALID_PERSON.code, "reason": str(exc)})
    if refused:
        raise errors.INVALID_BATCH(
            f"{len(refused)} people are invalid", data={"errors": refused}, invalid=len(refused)
        )
    with db.session_scope() as session:
        app = workspaces.get_app_by_appid(session, body.appid, principal.workspace_id)
        return service.resolve_members(session, app, people)


@router.post("/members/{member_id}/tags", tags=["members"])
def tag_member(member_id: Id, body: TagRequest, principal: Tagger, db: DatabaseDep) -> TagsChanged:
    with db.session_scope() as session:
        tags = service.tag_member(session, principal, member_id, body.tag)
        return TagsChanged(member_id=member_id, tags=tags)


@router.delete("/members/{member_id}/tags/{tag}", tags=["members"])
def untag_member(member_id: Id, tag: str, principal: Tagger, db: DatabaseDep) -> TagsChanged:
    with db.session_scope() as session:
        tags = service.untag_member(session, principal, member_id, tag)
        return TagsChanged(member_id=member_id, tags=tags)


@router.get("/tags", tags=["members"])
def tags(principal: Reader, db: DatabaseDep) -> dict[str, int]:
    """Every tag of the workspace and how many members carry it."""
    with db.session_scope() as session:
        return service.tag_counts(session, principal.workspace_id)


@router.get("/members/{member_id}/merges")
def member_merges(member_id: Id, principal: Merger, db: DatabaseDep) -> list[MergeRead]:
    with db.session_scope() as session:
        return service.list_merges(session, principal.workspace_id, member_id)


@router.post("/members/{member_id}/merge", status_code=201)
def merge(member_id: Id, body: MergeRequest, principal: Merger, db: DatabaseDep) -> MergeRead:
    with db.session_scope() as session:
        return service.merge_members(
            session, principal, member_id, body.merged_member_id, conflict_id=body.conflict_id
        )


@router.post("/merges/{merge_id}/undo")
def undo(merge_id: Id, principal: Merger, db: DatabaseDep) -> MergeRead:
    with db.session_scope() as session:
        return service.undo_merge(session, principal, merge_id)


@router.get("/merge-conflicts")
def conflicts(
    principal: Merger, db: DatabaseDep, status: ConflictStatus | None = ConflictStatus.open
) -> list[ConflictRead]:
    with db.session_scope() as session:
        return service.list_conflicts(session, principal.workspace_id, status)


@router.post("/merge-conflicts/{conflict_id}/dismiss")
def dismiss(conflict_id: Id, principal: Merger, db: DatabaseDep) -> ConflictRead:
    with db.session_scope() as session:
        return service.dismiss_conflict(session, principal, conflict_id)


@router.put("/members/{member_id}/assignee", tags=["members"])
def assign(
    member_id: Id,
    body: AssigneeSet,
    principal: Annotated[Principal, require(Permission.members_assign)],
    db: DatabaseDep,
) -> Assignee:
    with db.session_scope() as session:
        operator_id = service.assign_member(session, principal, member_id, body.operator_id)
    return Assignee(member_id=member_id, operator_id=operator_id)


@router.get("/members/{member_id}/consents", tags=["members"])
def consents(
    member_id: Id,
    principal: Annotated[Principal, require(Permission.consents_read)],
    db: DatabaseDep,
) -> list[ConsentRead]:
    with db.session_scope() as session:
        service.ensure_member_visible(session, principal, member_id)
        return service.list_consents(session, principal.workspace_id, member_id)


@router.post("/members/{member_id}/erase", tags=["members"])
def erase(
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_erase)],
    db: DatabaseDep,
) -> ErasureProof:
    """Erase the member's personal data everywhere; counts and amounts stay. Irreversible."""
    with db.session_scope() as session:
        return service.erase_member(
            session, principal.workspace_id, member_id, actor=principal.actor, via="staff"
        )


@router.get("/members/{member_id}/export", tags=["members"])
def export(
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_export)],
    db: DatabaseDep,
) -> dict[str, Any]:
    """Everything siyu holds about the member, for their data request (audited)."""
    with db.session_scope() as session:
        return service.export_member(session, principal.workspace_id, member_id, actor=principal)
