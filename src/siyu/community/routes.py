"""Community HTTP surface: the staff API under /api/community (and service records under
/api/members), and the Mini Program's enrollment, check-ins and share tickets under /api/mp."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from siyu.community import errors, service
from siyu.community.enums import ActivityStatus, CheckinStatus, EnrollmentStatus
from siyu.community.schemas import (
    ActivityCreate,
    ActivityRead,
    ActivityReview,
    ActivityUpdate,
    CheckinAnswer,
    CheckinRead,
    EnrollIn,
    EnrollmentAnswer,
    EnrollmentRead,
    GroupCreate,
    GroupMemberIn,
    GroupPostIn,
    GroupPostRead,
    GroupRead,
    GroupStateIn,
    RejectIn,
    SeriesCreate,
    SeriesRead,
    SeriesReview,
    ServiceRecordIn,
    ServiceRecordRead,
    SettlementRead,
    ShareTicketIn,
    ThemeCreate,
    ThemeRead,
)
from siyu.core.config import Settings
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.params import Id, Offset
from siyu.identity import service as identity
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat
from siyu.wechat.pay import service as pay

router = APIRouter(prefix="/api/community", tags=["community"])
members_router = APIRouter(prefix="/api/members", tags=["members"])
mp_router = APIRouter(prefix="/api/mp", tags=["mini program"])

Reader = Annotated[Principal, require(Permission.community_read)]
Manager = Annotated[Principal, require(Permission.community_manage)]
Settler = Annotated[Principal, require(Permission.community_settle)]
NoteReader = Annotated[Principal, require(Permission.members_timeline)]
NoteWriter = Annotated[Principal, require(Permission.members_notes)]
Authorization = Annotated[str | None, Header()]

IMAGE_TYPES = {
    b"\xff\xd8\xff": "jpg",
    b"\x89PNG\r\n\x1a\n": "png",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


# --- matrix --------------------------------------------------------------------------------


@router.get("/matrix")
def get_matrix(principal: Reader, db: DatabaseDep) -> list[dict[str, object]]:
    """Themes → series → activities and groups."""
    with db.session_scope() as session:
        return [
            {
                "theme": t.theme.model_dump(),
                "series": [
                    {
                        "series": s.series.model_dump(),
                        "activities": [a.model_dump(mode="json") for a in s.activities],
                        "groups": [g.model_dump() for g in s.groups],
                    }
                    for s in t.series
                ],
            }
            for t in service.matrix(session, principal.workspace_id)
        ]


@router.post("/themes", status_code=201)
def create_theme(body: ThemeCreate, principal: Manager, db: DatabaseDep) -> ThemeRead:
    with db.session_scope() as session:
        return service.create_theme(session, principal.workspace_id, body, actor=principal)


@router.get("/themes")
def list_themes(principal: Reader, db: DatabaseDep) -> list[ThemeRead]:
    with db.session_scope() as session:
        return service.list_themes(session, principal.workspace_id)


@router.post("/series", status_code=201)
def create_series(body: SeriesCreate, principal: Manager, db: DatabaseDep) -> SeriesRead:
    with db.session_scope() as session:
        return service.create_series(session, principal.workspace_id, body, actor=principal)


@router.get("/series")
def list_series(principal: Reader, db: DatabaseDep) -> list[SeriesRead]:
    with db.session_scope() as session:
        return service.list_series(session, principal.workspace_id)


@router.post("/activities", status_code=201)
def create_activity(body: ActivityCreate, principal: Manager, db: DatabaseDep) -> ActivityRead:
    with db.session_scope() as session:
        return service.create_activity(session, principal.workspace_id, body, actor=principal)


@router.get("/activities")
def list_activities(
    principal: Reader,
    db: DatabaseDep,
    series_id: Id | None = None,
    status: ActivityStatus | None = None,
) -> list[ActivityRead]:
    with db.session_scope() as session:
        return service.list_activities(
            session,
            principal.workspace_id,
            series_id=series_id,
            statuses=[status] if status else None,
        )


@router.get("/activities/{activity_id}")
def get_activity(activity_id: Id, principal: Reader, db: DatabaseDep) -> ActivityRead:
    with db.session_scope() as session:
        return service.get_activity(session, principal.workspace_id, activity_id)


@router.patch("/activities/{activity_id}")
def update_activity(
    activity_id: Id, body: ActivityUpdate, principal: Manager, db: DatabaseDep
) -> ActivityRead:
    with db.session_scope() as session:
        return service.update_activity(
            session, principal.workspace_id, activity_id, body, actor=principal
        )


@router.post("/activities/{activity_id}/end")
def end_activity_early(activity_id: Id, principal: Settler, db: DatabaseDep) -> ActivityRead:
    """End the activity yesterday: enrollment and check-ins stop and it can be settled today."""
    with db.session_scope() as session:
        return service.end_activity_early(
            session, principal.workspace_id, activity_id, actor=principal
        )


@router.get("/activities/{activity_id}/enrollments")
def list_enrollments(
    activity_id: Id,
    principal: Reader,
    db: DatabaseDep,
    status: EnrollmentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[EnrollmentRead]:
    with db.session_scope() as session:
        return service.list_enrollments(
            session, principal.workspace_id, activity_id, status=status, limit=limit, offset=offset
        )


@router.get("/activities/{activity_id}/checkins")
def list_checkins(
    activity_id: Id,
    principal: Reader,
    db: DatabaseDep,
    day: date | None = None,
    status: CheckinStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[CheckinRead]:
    with db.session_scope() as session:
        return service.list_checkins(
            session,
            principal.workspace_id,
            activity_id,
            day=day,
            status=status,
            limit=limit,
            offset=offset,
        )


@router.post("/checkins/{checkin_id}/reject")
def reject_checkin(
    checkin_id: Id, body: RejectIn, principal: Manager, db: DatabaseDep
) -> CheckinRead:
    """Reject a check-in's evidence: it stops counting toward the refund."""
    with db.session_scope() as session:
        return service.reject_checkin(
            session, principal.workspace_id, checkin_id, body.reason, actor=principal
        )


# --- settlement ----------------------------------------------------------------------------


@router.post("/activities/{activity_id}/settlement")
def compute_settlement(activity_id: Id, principal: Settler, db: DatabaseDep) -> SettlementRead:
    """Compute (or recompute) the settlement: who gets what back, and why. Nothing is paid."""
    with db.session_scope() as session:
        return service.compute_settlement(session, principal.workspace_id, activity_id)


@router.get("/activities/{activity_id}/settlement")
def get_settlement(
    activity_id: Id,
    principal: Reader,
    db: DatabaseDep,
    problems: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    offset: Offset = 0,
) -> SettlementRead:
    with db.session_scope() as session:
        return service.settlement_view(
            session,
            principal.workspace_id,
            activity_id,
            limit=limit,
            offset=offset,
            problems_only=problems,
        )


@router.post("/activities/{activity_id}/settlement/confirm", status_code=202)
def confirm_settlement(activity_id: Id, principal: Settler, db: DatabaseDep) -> SettlementRead:
    """Confirm: the refunds are recorded in Pay (fixed out_refund_no) and sent by jobs.
    A second confirmation is refused; nothing is ever refunded twice."""
    with db.session_scope() as session:
        done = service.confirm_settlement(
            session, principal.workspace_id, activity_id, actor=principal
        )
        return done.settlement


# --- groups --------------------------------------------------------------------------------


@router.post("/groups", status_code=201)
def create_group(body: GroupCreate, principal: Manager, db: DatabaseDep) -> GroupRead:
    with db.session_scope() as session:
        return service.create_group(session, principal.workspace_id, body, actor=principal)


@router.get("/groups")
def list_groups(principal: Reader, db: DatabaseDep) -> list[GroupRead]:
    with db.session_scope() as session:
        return service.list_groups(session, principal.workspace_id)


@router.post("/groups/{group_id}/state")
def set_group_state(
    group_id: Id, body: GroupStateIn, principal: Manager, db: DatabaseDep
) -> GroupRead:
    with db.session_scope() as session:
        return service.set_group_state(
            session, principal.workspace_id, group_id, body.state, actor=principal
        )


@router.get("/groups/{group_id}/members")
def group_members(group_id: Id, principal: Reader, db: DatabaseDep) -> list[int]:
    with db.session_scope() as session:
        return service.group_members(session, principal.workspace_id, group_id)


@router.post("/groups/{group_id}/members")
def add_group_member(
    group_id: Id, body: GroupMemberIn, principal: Manager, db: DatabaseDep
) -> GroupRead:
    with db.session_scope() as session:
        return service.add_group_member(
            session, principal.workspace_id, group_id, body.member_id, actor=principal
        )


@router.delete("/groups/{group_id}/members/{member_id}")
def remove_group_member(
    group_id: Id, member_id: Id, principal: Manager, db: DatabaseDep
) -> GroupRead:
    with db.session_scope() as session:
        return service.remove_group_member(
            session, principal.workspace_id, group_id, member_id, actor=principal
        )


@router.post("/groups/{group_id}/posts", status_code=201)
def post_to_group(
    group_id: Id, body: GroupPostIn, principal: Manager, db: DatabaseDep
) -> GroupPostRead:
    """Record a post the team made in the group (WeChat has no API to post into a group)."""
    with db.session_scope() as session:
        return service.post_to_group(
            session, principal.workspace_id, group_id, body, actor=principal
        )


@router.get("/groups/{group_id}/posts")
def list_posts(group_id: Id, principal: Reader, db: DatabaseDep) -> list[GroupPostRead]:
    with db.session_scope() as session:
        return service.list_posts(session, principal.workspace_id, group_id)


# --- review --------------------------------------------------------------------------------


@router.get("/review/activities/{code}")
def activity_review(
    code: str,
    principal: Reader,
    db: DatabaseDep,
    previous: Annotated[str | None, Query(max_length=32)] = None,
    active_after_days: Annotated[int, Query(ge=0, le=365)] = service.ACTIVE_AFTER_DAYS,
) -> ActivityReview:
    with db.session_scope() as session:
        return service.activity_review(
            session,
            principal.workspace_id,
            code,
            previous=previous,
            active_after_days=active_after_days,
        )


@router.get("/review/series/{series_id}")
def series_review(series_id: Id, principal: Reader, db: DatabaseDep) -> SeriesReview:
    with db.session_scope() as session:
        return service.series_review(session, principal.workspace_id, series_id)


# --- service records -----------------------------------------------------------------------


@members_router.get("/{member_id}/service-records")
def list_service_records(
    member_id: Id, principal: NoteReader, db: DatabaseDep
) -> list[ServiceRecordRead]:
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, member_id)
        return service.service_records(session, principal.workspace_id, member_id)


@members_router.post("/{member_id}/service-records", status_code=201)
def add_service_record(
    member_id: Id, body: ServiceRecordIn, principal: NoteWriter, db: DatabaseDep
) -> ServiceRecordRead:
    with db.session_scope() as session:
        return service.add_service_record(
            session, principal.workspace_id, member_id, body, actor=principal
        )


# --- the Mini Program ----------------------------------------------------------------------


@mp_router.get("/{appid}/activities")
def open_activities(
    appid: str, db: DatabaseDep, authorization: Authorization = None
) -> list[ActivityRead]:
    """Activities open for enrollment."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.list_activities(
            session, principal.app.workspace_id, statuses=[ActivityStatus.open]
        )


@mp_router.post("/{appid}/activities/{activity_id}/enrollments")
def enroll(
    appid: str,
    activity_id: Id,
    db: DatabaseDep,
    settings: SettingsDep,
    body: EnrollIn | None = None,
    authorization: Authorization = None,
) -> EnrollmentAnswer:
    """Enroll the logged-in member; when money is due, wx.requestPayment's parameters come
    back and the payment notification confirms the enrollment."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        ws = principal.app.workspace_id
        step = service.enroll(
            session,
            ws,
            activity_id,
            principal.member_id,
            appid=appid,
            openid=principal.openid,
            channel=body.channel if body else None,
            order_minutes=settings.pay_order_minutes,
        )
    if step.order_id is None:
        return EnrollmentAnswer(enrollment=step.enrollment)
    # Pay is asked between transactions: no database lock waits on the network.
    params = pay.payment_params(db, pay.clients(), ws, step.order_id, member_id=principal.member_id)
    return EnrollmentAnswer(enrollment=step.enrollment, payment=params)


def _store_image(settings: Settings, data: bytes) -> str:
    kind = next((ext for magic, ext in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "webp"
    if kind is None:
        raise errors.IMAGE_TYPE("check-in images are JPEG, PNG, GIF or WebP")
    key = f"{hashlib.sha256(data).hexdigest()}.{kind}"
    folder = Path(settings.data_dir) / "checkins"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / key
    if not target.exists():  # content-addressed: the same photo twice is one file
        partial = folder / f".{key}.part"
        partial.write_bytes(data)
        partial.replace(target)
    return key


@mp_router.post("/{appid}/activities/{activity_id}/checkins", status_code=201)
async def check_in(
    appid: str,
    activity_id: Id,
    db: DatabaseDep,
    settings: SettingsDep,
    text: Annotated[str | None, Form(max_length=2000)] = None,
    image: Annotated[UploadFile | None, File()] = None,
    authorization: Authorization = None,
) -> CheckinAnswer:
    """Today's check-in (multipart: `text` and/or `image`), once a day inside the window."""
    limit = settings.checkin_image_max_bytes
    data: bytes | None = None
    if image is not None and (image.filename or image.size):
        data = await image.read(limit + 1)
        if len(data) > limit:
            raise errors.IMAGE_TOO_LARGE(
                f"check-in images are at most {limit} bytes", data={"limit": limit}, limit=limit
            )
        if not data:
            data = None

    def run() -> CheckinAnswer:
        with db.session_scope() as session:
            principal = wechat.authenticate(session, appid, authorization)
        key = _store_image(settings, data) if data is not None else None
        with db.session_scope() as session:
            return service.check_in(
                session,
                principal.app.workspace_id,
                activity_id,
                principal.member_id,
                text=text,
                image_key=key,
            )

    return await run_in_threadpool(run)


@mp_router.post("/{appid}/groups/share-ticket")
def join_by_share_ticket(
    appid: str, body: ShareTicketIn, db: DatabaseDep, authorization: Authorization = None
) -> GroupRead:
    """The member opened a card shared in a group: wx.getShareInfo's sealed openGId names it."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        data = wechat.open_user_data(session, principal, body.encrypted_data, body.iv)
        open_gid = data.get("openGId")
        if not isinstance(open_gid, str) or not open_gid:
            raise errors.NO_OPEN_GID("the share information names no group")
        group, _changed = service.join_by_open_gid(
            session, principal.app.workspace_id, open_gid, principal.member_id
        )
        return group
