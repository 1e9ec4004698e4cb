"""Audience's staff API: segments (人群) — define, count while editing, members, CSV, refresh,
notify — and tag groups (标签组); sales leads (线索) are `leads_routes`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from siyu.audience import service
from siyu.audience.leads_routes import router as leads_router
from siyu.audience.oa_tags_routes import router as oa_tags_router
from siyu.audience.schemas import (
    MemberRfmRead,
    MemberTierRead,
    RefreshResult,
    SegmentCreate,
    SegmentMembersPage,
    SegmentNotice,
    SegmentPreview,
    SegmentPreviewIn,
    SegmentRead,
    SegmentUpdate,
    TagGroupIn,
    TagGroupRead,
    TierCountsRead,
    TierFlowRead,
    TierPolicyIn,
    TierPolicyRead,
)
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number, Offset
from siyu.reach.schemas import BroadcastRead
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/api/audience", tags=["audience"])

Reader = Annotated[Principal, require(Permission.segments_read)]
Manager = Annotated[Principal, require(Permission.segments_manage)]
Sender = Annotated[Principal, require(Permission.reach_send)]
Tagger = Annotated[Principal, require(Permission.members_tag)]

EXPORT_PAGE = 1000
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
CSV_HEADER = ("学号", "姓名", "手机号", "标识", "标签", "备注", "加入时间")


@router.post("/segments/preview")
def preview_segment(body: SegmentPreviewIn, principal: Reader, db: DatabaseDep) -> SegmentPreview:
    """The live count of a definition, and the first 100 member numbers (nothing stored)."""
    with db.session_scope() as session:
        return service.preview(session, principal.workspace_id, body.definition)


@router.post("/segments", status_code=201)
def create_segment(body: SegmentCreate, principal: Manager, db: DatabaseDep) -> SegmentRead:
    with db.session_scope() as session:
        return service.create_segment(session, principal, body)


@router.get("/segments")
def list_segments(principal: Reader, db: DatabaseDep) -> list[SegmentRead]:
    with db.session_scope() as session:
        return service.list_segments(session, principal.workspace_id)


@router.get("/segments/{segment_id}")
def get_segment(segment_id: Id, principal: Reader, db: DatabaseDep) -> SegmentRead:
    with db.session_scope() as session:
        return service.get_segment(session, principal.workspace_id, segment_id)


@router.patch("/segments/{segment_id}")
def update_segment(
    segment_id: Id, body: SegmentUpdate, principal: Manager, db: DatabaseDep
) -> SegmentRead:
    with db.session_scope() as session:
        return service.update_segment(session, principal, segment_id, body)


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        service.delete_segment(session, principal, segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members")
def segment_members(
    segment_id: Id,
    principal: Reader,
    db: DatabaseDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SegmentMembersPage:
    """The members as of the last refresh, by member number."""
    with db.session_scope() as session:
        return service.segment_members(
            session, principal.workspace_id, segment_id, offset=offset, limit=limit
        )


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(segment_id: Id, principal: Manager, db: DatabaseDep) -> RefreshResult:
    """Refresh now: a dynamic segment at once, a static one's new snapshot."""
    with db.session_scope() as session:
        return service.refresh_on_demand(session, principal, segment_id)


@router.post("/segments/{segment_id}/notify", status_code=201)
def notify_segment(
    segment_id: Id, body: SegmentNotice, principal: Sender, db: DatabaseDep
) -> BroadcastRead:
    """A broadcast to the segment's members (reach's throttled broadcast, its rules)."""
    with db.session_scope() as session:
        return service.notify_segment(session, principal, segment_id, body)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


@router.get("/segments/{segment_id}/members.csv")
def export_segment(segment_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    """The segment's members as CSV for Excel (a BOM, 学号 first), each shown as the member
    list's export shows them to this role (masked phone, WeChat ids only with the permission);
    streamed a page per transaction; audited before the first row."""
    with db.session_scope() as session:
        segment = service.record_segment_export(session, principal, segment_id)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(CSV_HEADER)
        yield "\ufeff" + buffer.getvalue()
        offset = 0
        while True:
            with db.session_scope() as session:
                page = service.segment_export_page(
                    session, principal, segment.id, offset=offset, limit=EXPORT_PAGE
                )
            if not page and offset >= segment.member_count:
                return
            offset += EXPORT_PAGE
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for listed in sorted(page, key=lambda item: item.member.number):
                member = listed.member
                phones = [
                    i.phone or i.phone_masked or "" for i in member.identities if i.kind == "phone"
                ]
                ids = [
                    f"{i.appid or ''} {i.kind}: {i.value}".strip()
                    for i in member.identities
                    if i.kind != "phone" and i.value
                ]
                joined = member.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            member.number,
                            member.display_name,
                            " ".join(phones),
                            "; ".join(ids),
                            " ".join(listed.tags),
                            member.remark,
                            joined,
                        )
                    ]
                )
            yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="segment-{segment.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- tag groups -----------------------------------------------------------------------------


@router.get("/tag-groups")
def list_tag_groups(principal: Reader, db: DatabaseDep) -> list[TagGroupRead]:
    with db.session_scope() as session:
        return service.list_tag_groups(session, principal.workspace_id)


@router.post("/tag-groups", status_code=201)
def create_tag_group(body: TagGroupIn, principal: Tagger, db: DatabaseDep) -> TagGroupRead:
    with db.session_scope() as session:
        return service.save_tag_group(session, principal, body)


@router.put("/tag-groups/{group_id}")
def update_tag_group(
    group_id: Id, body: TagGroupIn, principal: Tagger, db: DatabaseDep
) -> TagGroupRead:
    with db.session_scope() as session:
        return service.save_tag_group(session, principal, body, group_id)


@router.delete("/tag-groups/{group_id}", status_code=204)
def delete_tag_group(group_id: Id, principal: Tagger, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        service.delete_tag_group(session, principal, group_id)
    return Response(status_code=204)


router.include_router(leads_router)
# --- lifecycle tiers and RFM ------------------------------------------------------------------

MemberReader = Annotated[Principal, require(Permission.members_read)]
FigureReader = Annotated[Principal, require(Permission.analytics_read)]
TierManager = Annotated[Principal, require(Permission.audience_manage)]
Days = Annotated[int, Query(ge=1, le=366)]


@router.get("/members/{number}/tier")
def member_tier(number: Number, principal: MemberReader, db: DatabaseDep) -> MemberTierRead:
    """The member's lifecycle tier (new, active, dormant, churned, returning) and since when."""
    with db.session_scope() as session:
        return service.member_tier(session, principal, number)


@router.get("/members/{number}/rfm")
def member_rfm(number: Number, principal: MemberReader, db: DatabaseDep) -> MemberRfmRead:
    """The member's RFM figures, 1–5 scores and cell (`buyer: false` if they never paid)."""
    with db.session_scope() as session:
        return service.member_rfm(session, principal, number)


@router.get("/tiers/counts")
def tier_counts(principal: FigureReader, db: DatabaseDep, days: Days = 90) -> TierCountsRead:
    """Members per tier at each day's computation over the last `days` days."""
    with db.session_scope() as session:
        return service.tier_counts(session, principal.workspace_id, days)


@router.get("/tiers/flows")
def tier_flows(principal: FigureReader, db: DatabaseDep, days: Days = 30) -> list[TierFlowRead]:
    """Moves between tiers over the last `days` days (30: last month), most frequent first."""
    now = clock.now()
    with db.session_scope() as session:
        return service.tier_flows(session, principal.workspace_id, now - timedelta(days=days), now)


@router.get("/tiers/policy")
def get_tier_policy(principal: FigureReader, db: DatabaseDep) -> TierPolicyRead:
    with db.session_scope() as session:
        return service.get_tier_policy(session, principal.workspace_id)


@router.put("/tiers/policy")
def set_tier_policy(body: TierPolicyIn, principal: TierManager, db: DatabaseDep) -> TierPolicyRead:
    """Store the thresholds; the tiers are recomputed by them in the background."""
    with db.session_scope() as session:
        return service.set_tier_policy(session, principal.workspace_id, body, principal)


router.include_router(oa_tags_router)
