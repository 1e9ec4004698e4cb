"""Console pages of community campaigns: the matrix and the activity editor, an activity's
enrollments and check-ins, the settlement with its confirmation, the review (复盘) with charts,
and service records on a member's profile. Permissions are the community API's own.
(One router for all community pages; the charts and the forms live in their own modules.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from siyu.community import errors, service
from siyu.community.enums import ActivityStatus, Evidence, GroupState, RefundRule
from siyu.community.schemas import (
    ActivityRead,
    GroupCreate,
    GroupPostIn,
    RejectIn,
    ServiceRecordIn,
    SettlementRead,
    hhmm,
)
from siyu.console import community_charts as charts
from siyu.console import community_forms as forms
from siyu.console import errors as console_errors
from siyu.console.common import member_context
from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import REQUEST_INVALID, NotFound, SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.money import format_yuan
from siyu.core.params import Id
from siyu.identity import service as identity
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.community_read)]
Manager = Annotated[Principal, require(Permission.community_manage)]
Settler = Annotated[Principal, require(Permission.community_settle)]
NoteWriter = Annotated[Principal, require(Permission.members_notes)]

ENROLLMENTS_SHOWN = 200
CHECKINS_SHOWN = 100
SETTLEMENT_LINES_SHOWN = 500
TROUBLE = ("failed", "abnormal", "closed")

Form64 = Annotated[str, Form(max_length=64)]
Form32 = Annotated[str, Form(max_length=32)]
MATRIX, MATRIX_FRAGMENT = "community.html", "_community_matrix.html"


# --- the matrix ----------------------------------------------------------------------------


def _matrix_context(session: Session, workspace_id: int) -> dict[str, Any]:
    themes = service.matrix(session, workspace_id)
    counts = {
        a.id: service.enrollment_counts(session, a.id)
        for t in themes
        for s in t.series
        for a in s.activities
    }
    return {
        "active": "community",
        "themes": themes,
        "counts": counts,
        "series_options": [(t.theme, s.series) for t in themes for s in t.series],
        "statuses": [ActivityStatus.draft, ActivityStatus.open, ActivityStatus.closed],
        "evidences": list(Evidence),
        "rules": list(RefundRule),
        "form": {},
        "errors": {},
        "form_error": None,
        "which": None,
        "notice": None,
    }


def _matrix_done(
    request: Request, db: Database, principal: Principal, *, which: str, notice: str
) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/community", status_code=303)
    with db.session_scope() as session:
        context = _matrix_context(session, principal.workspace_id)
    context.update(which=which, notice=notice)
    return render(request, MATRIX_FRAGMENT, context)


def _matrix_refused(
    request: Request,
    db: Database,
    principal: Principal,
    refused: SiyuError,
    *,
    which: str,
    form: type[ConsoleForm],
    sent: Mapping[str, Any],
) -> Response:
    with db.session_scope() as session:
        context = _matrix_context(session, principal.workspace_id)
    context["which"] = which
    return form_again(
        request, refused, context, form=form, sent=sent, page=MATRIX, fragment=MATRIX_FRAGMENT
    )


@router.get("/community")
def matrix_page(request: Request, principal: Reader, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        context = _matrix_context(session, principal.workspace_id)
    return render(request, MATRIX, context)


@router.post("/community/themes")
def add_theme(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        data = parse_form(posted, forms.ThemeForm, tr).to_create(tr)
        with db.session_scope() as session:
            theme = service.create_theme(session, principal.workspace_id, data, actor=principal)
    except SiyuError as exc:
        return _matrix_refused(
            request, db, principal, exc, which="theme", form=forms.ThemeForm, sent=posted
        )
    notice = tr("community.theme_added", name=theme.name)
    return _matrix_done(request, db, principal, which="theme", notice=notice)


@router.post("/community/series")
def add_series(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        data = parse_form(posted, forms.SeriesForm, tr).to_create(tr)
        with db.session_scope() as session:
            series = service.create_series(session, principal.workspace_id, data, actor=principal)
    except SiyuError as exc:
        return _matrix_refused(
            request, db, principal, exc, which="series", form=forms.SeriesForm, sent=posted
        )
    notice = tr("community.series_added", name=series.name)
    return _matrix_done(request, db, principal, which="series", notice=notice)


@router.post("/community/activities")
def add_activity(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    """The activity editor: period, capacity, fee and deposit (yuan), check-in and refund rules."""
    tr = translator(request)
    try:
        data = parse_form(posted, forms.ActivityForm, tr).to_create(tr)
        with db.session_scope() as session:
            activity = service.create_activity(
                session, principal.workspace_id, data, actor=principal
            )
    except SiyuError as exc:
        return _matrix_refused(
            request, db, principal, exc, which="activity", form=forms.ActivityForm, sent=posted
        )
    notice = tr("community.activity_added", code=activity.code, title=activity.title)
    return _matrix_done(request, db, principal, which="activity", notice=notice)


# --- an activity: enrollments, check-ins ---------------------------------------------------


def _numbers(session: Session, workspace_id: int, member_ids: set[int]) -> dict[int, int]:
    return {mid: identity.get_member(session, workspace_id, mid).number for mid in member_ids}


def _checkins_context(
    session: Session, workspace_id: int, activity: ActivityRead
) -> dict[str, Any]:
    checkins = service.list_checkins(session, workspace_id, activity.id, limit=CHECKINS_SHOWN)
    return {
        "activity": activity,
        "checkins": checkins,
        "checkin_numbers": _numbers(session, workspace_id, {c.member_id for c in checkins}),
        "notice": None,
    }


@router.get("/community/activities/{activity_id}")
def activity_page(
    request: Request, activity_id: Id, principal: Reader, db: DatabaseDep
) -> Response:
    ws = principal.workspace_id
    tr = translator(request)
    with db.session_scope() as session:
        activity = service.get_activity(session, ws, activity_id)
        enrollments = service.list_enrollments(session, ws, activity.id, limit=ENROLLMENTS_SHOWN)
        found = service.activity_review(session, ws, activity.code)
        context = {
            **_checkins_context(session, ws, activity),
            "active": "community",
            "series": service.get_series(session, ws, activity.series_id),
            "counts": service.enrollment_counts(session, activity.id),
            "enrollments": enrollments,
            "numbers": _numbers(session, ws, {e.member_id for e in enrollments}),
            "chart": charts.rate_chart(tr, activity, found.checkin_rate_by_day),
            "shown": ENROLLMENTS_SHOWN,
            "statuses": [ActivityStatus.draft, ActivityStatus.open, ActivityStatus.closed],
            "hhmm": hhmm,
            "groups": [g for g in service.list_groups(session, ws) if g.activity_id == activity.id],
        }
    return render(request, "community_activity.html", context)


@router.post("/community/activities/{activity_id}/group")
def create_activity_group(
    request: Request, activity_id: Id, principal: Manager, db: DatabaseDep, name: Form64 = ""
) -> Response:
    """The activity's WeChat group, recorded (the group itself is made in WeChat)."""
    try:
        data = GroupCreate(name=name.strip(), activity_id=activity_id)
    except ValidationError:
        return error_response(request, REQUEST_INVALID("give the group's name"))
    try:
        with db.session_scope() as session:
            group = service.create_group(session, principal.workspace_id, data, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse(f"/community/groups/{group.id}", status_code=303)


@router.post("/community/activities/{activity_id}")
def update_activity(
    request: Request, activity_id: Id, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    """What may change once people enrolled: title, status (open, close), capacity, window."""
    tr = translator(request)
    try:
        data = parse_form(posted, forms.ActivityChangeForm, tr).to_update(tr)
        with db.session_scope() as session:
            service.update_activity(
                session, principal.workspace_id, activity_id, data, actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#activity-edit-msg")
    page = f"/community/activities/{activity_id}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": page})
    return RedirectResponse(page, status_code=303)


@router.post("/community/checkins/{checkin_id}/reject")
def reject_checkin(
    request: Request,
    checkin_id: Id,
    principal: Manager,
    db: DatabaseDep,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Staff reject a check-in's evidence: it stops counting toward the refund (audited)."""
    ws = principal.workspace_id
    try:
        try:
            body = RejectIn(reason=reason.strip())
        except ValidationError:
            raise errors.REJECT_REASON_REQUIRED("give the reason") from None
        with db.session_scope() as session:
            checkin = service.reject_checkin(session, ws, checkin_id, body.reason, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#checkin-{checkin_id}-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/community/activities/{checkin.activity_id}", status_code=303)
    with db.session_scope() as session:
        activity = service.get_activity(session, ws, checkin.activity_id)
        context = _checkins_context(session, ws, activity)
    context["notice"] = translator(request)("community.checkin_rejected")
    return render(request, "_community_checkins.html", context)


# --- settlement ----------------------------------------------------------------------------


def _settlement_context(session: Session, workspace_id: int, activity_id: int) -> dict[str, Any]:
    activity = service.get_activity(session, workspace_id, activity_id)
    settlement: SettlementRead | None
    try:
        settlement = service.settlement_view(
            session, workspace_id, activity.id, limit=SETTLEMENT_LINES_SHOWN
        )
    except NotFound:
        settlement = None
    lines = settlement.lines if settlement else []
    problems = [
        line
        for line in lines
        if line.refund_status in TROUBLE or (line.refund_status and line.refund_error)
    ]
    yesterday = service.today() - timedelta(days=1)
    return {
        "active": "community",
        "activity": activity,
        # ending early is offered while the activity runs and has run a whole day
        "can_end": activity.status != ActivityStatus.settled
        and activity.starts_on <= yesterday < activity.ends_on,
        "settlement": settlement,
        "problems": {line.id for line in problems},
        "problem_count": len(problems),
        "numbers": _numbers(session, workspace_id, {line.member_id for line in lines}),
        "notice": None,
        "shown": SETTLEMENT_LINES_SHOWN,
    }


def _settlement_answer(
    request: Request, db: Database, principal: Principal, activity_id: int, notice: str
) -> Response:
    if not is_htmx(request):
        return RedirectResponse(f"/community/activities/{activity_id}/settlement", status_code=303)
    with db.session_scope() as session:
        context = _settlement_context(session, principal.workspace_id, activity_id)
    context["notice"] = notice
    return render(request, "_community_settlement.html", context)


@router.get("/community/activities/{activity_id}/settlement")
def settlement_page(
    request: Request, activity_id: Id, principal: Reader, db: DatabaseDep
) -> Response:
    with db.session_scope() as session:
        context = _settlement_context(session, principal.workspace_id, activity_id)
    return render(request, "community_settlement.html", context)


@router.post("/community/activities/{activity_id}/settlement")
def compute_settlement(
    request: Request, activity_id: Id, principal: Settler, db: DatabaseDep
) -> Response:
    """Compute (or recompute) who gets what back, and why. Nothing is paid."""
    try:
        with db.session_scope() as session:
            service.compute_settlement(session, principal.workspace_id, activity_id)
    except SiyuError as exc:
        return error_response(request, exc, target="#settlement-msg")
    notice = translator(request)("community.settlement.computed")
    return _settlement_answer(request, db, principal, activity_id, notice)


@router.post("/community/activities/{activity_id}/end")
def end_activity_early(
    request: Request, activity_id: Id, principal: Settler, db: DatabaseDep
) -> Response:
    """End the activity yesterday, so that it can be settled today."""
    try:
        with db.session_scope() as session:
            ended = service.end_activity_early(
                session, principal.workspace_id, activity_id, actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#settlement-msg")
    notice = translator(request)("community.end.done", day=str(ended.ends_on))
    return _settlement_answer(request, db, principal, activity_id, notice)


@router.post("/community/activities/{activity_id}/settlement/confirm")
def confirm_settlement(
    request: Request,
    activity_id: Id,
    principal: Settler,
    db: DatabaseDep,
    confirm: Form32 = "",
) -> Response:
    """Confirm after typing the activity's code: refunds are recorded in Pay (fixed
    out_refund_no) and sent by jobs. A second confirmation is refused: money leaves once."""
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            activity = service.get_activity(session, ws, activity_id)
            if confirm.strip() != activity.code:
                raise console_errors.SETTLEMENT_UNCONFIRMED("type the activity's code to confirm")
            done = service.confirm_settlement(session, ws, activity_id, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#settlement-msg")
    notice = translator(request)(
        "community.settlement.confirmed_done",
        refunds=len(done.refund_ids),
        amount=format_yuan(done.settlement.total_refund),
    )
    return _settlement_answer(request, db, principal, activity_id, notice)


# --- the review (复盘) ----------------------------------------------------------------------


@router.get("/community/activities/{activity_id}/review")
def review_page(request: Request, activity_id: Id, principal: Reader, db: DatabaseDep) -> Response:
    ws = principal.workspace_id
    tr = translator(request)
    with db.session_scope() as session:
        activity = service.get_activity(session, ws, activity_id)
        found = service.activity_review(session, ws, activity.code)
    context = {
        "active": "community",
        "activity": activity,
        "r": found,
        "charts": charts.review_charts(tr, found, activity),
    }
    return render(request, "community_review.html", context)


@router.get("/community/series/{series_id}/review")
def series_review_page(
    request: Request, series_id: Id, principal: Reader, db: DatabaseDep
) -> Response:
    """The series' activities side by side: who came, who finished, who came back."""
    with db.session_scope() as session:
        found = service.series_review(session, principal.workspace_id, series_id)
        ids = {
            a.code: a.id
            for a in service.list_activities(session, principal.workspace_id, series_id=series_id)
        }
    context = {
        "active": "community",
        "r": found,
        "ids": ids,
        "chart": charts.series_chart(translator(request), found),
    }
    return render(request, "community_series_review.html", context)


# --- groups --------------------------------------------------------------------------------

GROUP_MEMBERS_SHOWN = 200


@router.get("/community/groups/{group_id}")
def group_page(request: Request, group_id: Id, principal: Reader, db: DatabaseDep) -> Response:
    """A group: its state, its members (by 学号) and the posts the team made in it."""
    ws = principal.workspace_id
    with db.session_scope() as session:
        group = service.get_group(session, ws, group_id)
        members = service.group_members(session, ws, group_id)[:GROUP_MEMBERS_SHOWN]
        parent = (
            service.get_activity(session, ws, group.activity_id)
            if group.activity_id is not None
            else None
        )
        context = {
            "active": "community",
            "group": group,
            "activity": parent,
            "series": service.get_series(
                session, ws, parent.series_id if parent else group.series_id or 0
            ),
            "members": members,
            "numbers": _numbers(session, ws, set(members)),
            "posts": service.list_posts(session, ws, group_id, limit=50),
            "states": list(GroupState),
            "shown": GROUP_MEMBERS_SHOWN,
        }
    return render(request, "community_group.html", context)


def _group_answer(request: Request, group_id: int) -> Response:
    page = f"/community/groups/{group_id}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": page})
    return RedirectResponse(page, status_code=303)


@router.post("/community/groups/{group_id}/state")
def set_group_state(
    request: Request, group_id: Id, principal: Manager, db: DatabaseDep, state: Form32 = ""
) -> Response:
    try:
        chosen = GroupState(state)
    except ValueError:
        return error_response(request, REQUEST_INVALID("choose a group state"), target="#group-msg")
    try:
        with db.session_scope() as session:
            service.set_group_state(
                session, principal.workspace_id, group_id, chosen, actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#group-msg")
    return _group_answer(request, group_id)


@router.post("/community/groups/{group_id}/members")
def add_group_member(
    request: Request, group_id: Id, principal: Manager, db: DatabaseDep, number: Form32 = ""
) -> Response:
    """Staff add a member by 学号 (membership from share tickets arrives by itself)."""
    ws = principal.workspace_id
    try:
        if not number.strip().isdigit():
            raise console_errors.MEMBER_NUMBER("type the member's number (学号)")
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, ws, int(number.strip()))
            identity.ensure_member_visible(session, principal, member.id)
            service.add_group_member(session, ws, group_id, member.id, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#group-msg")
    return _group_answer(request, group_id)


@router.post("/community/groups/{group_id}/posts")
def post_to_group(
    request: Request,
    group_id: Id,
    principal: Manager,
    db: DatabaseDep,
    kind: Form32 = "text",
    content: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record a post the team made in the group (WeChat has no API to post into a group)."""
    try:
        data = GroupPostIn(kind=kind, content=content.strip())
    except ValidationError:
        return error_response(
            request, REQUEST_INVALID("write what was posted"), target="#group-msg"
        )
    try:
        with db.session_scope() as session:
            service.post_to_group(session, principal.workspace_id, group_id, data, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#group-msg")
    return _group_answer(request, group_id)


# --- service records on the member's profile -----------------------------------------------


@router.post("/members/{member_id}/service-records")
def add_service_record(
    request: Request,
    member_id: Id,
    principal: NoteWriter,
    db: DatabaseDep,
    kind: Form32 = "note",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """A staff note on the member (who, when, what), shown on the profile; audited."""
    try:
        try:
            body = ServiceRecordIn(kind=kind, text=text)
        except ValidationError:
            raise errors.INVALID_SERVICE_RECORD("a note is 1–2000 characters") from None
        with db.session_scope() as session:
            service.add_service_record(
                session, principal.workspace_id, member_id, body, actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#notes-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.note_added")
    return render(request, "_member_detail.html", context)
