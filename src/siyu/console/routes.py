"""Console pages: login, overview, members, review, imports, apps, operators and the audit log
(Jinja2 + htmx + ECharts). Every page declares the permission it needs with `require(...)`."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from siyu.community import service as community
from siyu.console.i18n import LANG_COOKIE, LANGUAGES, Translator
from siyu.console.uploads import Upload, receive_upload
from siyu.console.web import (
    LOGIN_CSRF_COOKIE,
    ConsoleRoute,
    error_response,
    is_htmx,
    issue_login_csrf,
    render,
    safe_next,
    set_cookie,
    translator,
    valid_login_csrf,
    valid_session_csrf,
)
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.errors import Forbidden, Invalid, SiyuError
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.jobs import enqueue_after_commit
from siyu.identity import imports as identity_imports
from siyu.identity import service as identity
from siyu.identity.models import ConflictStatus, ImportStatus
from siyu.identity.routes import audit_merge, is_phone
from siyu.identity.schemas import MemberRead
from siyu.identity.tasks import run_import
from siyu.security import erasure
from siyu.security import service as security
from siyu.security.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    SignedIn,
    principal_or_none,
    require,
)
from siyu.security.models import Role
from siyu.security.permissions import Permission, allows
from siyu.security.schemas import Principal
from siyu.wechat.pay import service as pay
from siyu.wechat.pay import tasks as pay_tasks
from siyu.wechat.pay.models import RefundStatus
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import AppKind, EntityKind
from siyu.workspaces.schemas import AES_KEY, AppCreate

STATIC = Path(__file__).parent / "static"
MEMBERS_PAGE = 50
TIMELINE_PAGE = 50
UPLOAD_SUFFIXES = (".jsonl", ".ndjson")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
LOGIN_CSRF_SECONDS = 2 * 3600
LANG_SECONDS = 365 * 24 * 3600
APP_FIELDS = ("kind", "appid", "name", "entity", "entity_kind", "secret", "token", "aes_key")
SECRET_FIELDS = frozenset({"secret", "token", "aes_key"})

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
MaybePrincipal = Annotated[Principal | None, Depends(principal_or_none)]
Reader = Annotated[Principal, require(Permission.members_read)]
TimelineReader = Annotated[Principal, require(Permission.members_timeline)]
Merger = Annotated[Principal, require(Permission.members_merge)]
Importer = Annotated[Principal, require(Permission.imports_manage)]
AppReader = Annotated[Principal, require(Permission.apps_read)]
AppManager = Annotated[Principal, require(Permission.apps_manage)]
NextParam = Annotated[str, Query(alias="next", max_length=2048)]


def static_files() -> StaticFiles:
    STATIC.mkdir(exist_ok=True)
    return StaticFiles(directory=STATIC)


def _app_names(session: Session, workspace_id: int) -> dict[str, str]:
    return {app.appid: app.name for app in workspaces.list_apps(session, workspace_id)}


# --- sign in, sign out, language -----------------------------------------------------------


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    email: str = "",
    error: SiyuError | None = None,
    status: int = 200,
) -> Response:
    token = issue_login_csrf(settings)
    shown = None
    if error is not None:
        shown = {
            "code": error.code,
            "message": translator(request).refusal(error),
        }
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": next_url,
            "email": email,
            "error": shown,
        },
        status=status,
    )
    set_cookie(
        response, settings, LOGIN_CSRF_COOKIE, token, max_age=LOGIN_CSRF_SECONDS, path="/login"
    )
    return response


@router.get("/login")
def login_form(
    request: Request, settings: SettingsDep, principal: MaybePrincipal, next_url: NextParam = "/"
) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next_url), status_code=303)
    return _login_page(request, settings, next_url=safe_next(next_url))


@router.post("/login")
def login(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    target = safe_next(next_url)
    if not valid_login_csrf(settings, request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        refused = Forbidden("auth.csrf_failed", "the sign-in form is stale; reload it")
        return _login_page(
            request, settings, next_url=target, email=email, error=refused, status=403
        )
    client = request.client.host if request.client else None
    try:
        with db.session_scope() as session:
            principal = security.authenticate(session, email, password, client=client)
            fresh = security.start_session(session, principal, settings.session_hours)
            if previous := request.cookies.get(SESSION_COOKIE):
                security.end_session(session, previous)
            security.record_audit(
                session,
                principal,
                "operator.signed_in",
                target_type="operator",
                target_id=principal.operator_id,
            )
    except SiyuError as exc:
        if exc.code == "security.bad_credentials":
            # Apart from the refused attempt's transaction, which rolled back.
            with db.session_scope() as session:
                security.record_login_failure(session, email, client)
        return _login_page(
            request, settings, next_url=target, email=email, error=exc, status=exc.status
        )
    response = RedirectResponse(target, status_code=303)
    set_cookie(
        response, settings, SESSION_COOKIE, fresh.token, max_age=settings.session_hours * 3600
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, principal: SignedIn, db: DatabaseDep, settings: SettingsDep
) -> Response:
    if token := request.cookies.get(SESSION_COOKIE):
        with db.session_scope() as session:
            security.end_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, settings: SettingsDep, next_url: NextParam = "/") -> Response:
    response = RedirectResponse(safe_next(next_url), status_code=303)
    if lang in LANGUAGES:
        set_cookie(response, settings, LANG_COOKIE, lang, max_age=LANG_SECONDS)
    return response


# --- overview ------------------------------------------------------------------------------


def _home(principal: Principal) -> str:
    if allows(principal.role, Permission.analytics_read):
        return "/"
    return "/members" if allows(principal.role, Permission.members_read) else "/account"


@router.get("/")
def overview_page(
    request: Request, principal: SignedIn, db: DatabaseDep, settings: SettingsDep
) -> Response:
    """Aggregates for roles with `analytics.read`; the others land on their own first page."""
    if (home := _home(principal)) != "/":
        return RedirectResponse(home, status_code=303)
    with db.session_scope() as session:
        figures = identity.overview(session, principal.workspace_id, settings.display_timezone)
    tr = translator(request)
    chart = {
        "days": [d.day[5:] for d in figures.days],
        "members": [d.members for d in figures.days],
        "events": [d.events for d in figures.days],
        "labels": {
            "members": tr("overview.series.members"),
            "events": tr("overview.series.events"),
        },
    }
    return render(request, "overview.html", {"active": "overview", "o": figures, "chart": chart})


# --- members -------------------------------------------------------------------------------


@router.get("/account")
def account_page(request: Request, principal: SignedIn) -> Response:
    """The operator's own page: who they are and what their role permits."""
    return render(request, "account.html", {"active": "account"})


@router.get("/members")
def members_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    q: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    query = q.strip()
    with db.session_scope() as session:
        found = identity.search_members(
            session,
            principal.workspace_id,
            query=query or None,
            limit=MEMBERS_PAGE + 1,
            offset=offset,
            within=security.visible_members(session, principal),
        )
        if is_phone(query):
            security.record_audit(
                session,
                principal,
                "member.phone_searched",
                target_type="member",
                detail={"results": min(len(found), MEMBERS_PAGE)},
            )
        found = security.present_members(found, principal)
        apps = _app_names(session, principal.workspace_id)
    members, more = found[:MEMBERS_PAGE], len(found) > MEMBERS_PAGE
    # Every search is an exact identity match, so one hit is the member the operator meant.
    if query and len(members) == 1 and offset == 0 and not is_htmx(request):
        return RedirectResponse(f"/members/{members[0].id}", status_code=303)
    context = {
        "active": "members",
        "members": members,
        "apps": apps,
        "q": query,
        "offset": offset,
        "more": more,
        "page_size": MEMBERS_PAGE,
    }
    name = "_member_results.html" if is_htmx(request) else "members.html"
    return render(request, name, context)


def _member_context(session: Session, principal: Principal, member_id: int) -> dict[str, Any]:
    ws = principal.workspace_id
    security.ensure_member_visible(session, principal, member_id)
    reveal = allows(principal.role, Permission.members_phone)
    member = security.present_member(
        identity.get_member(session, ws, member_id, reveal_phone=reveal), principal
    )
    can_merge = allows(principal.role, Permission.members_merge)
    merges = identity.list_merges(session, ws, member_id) if can_merge else []
    timeline = (
        identity.get_timeline(session, ws, member_id, limit=TIMELINE_PAGE)
        if allows(principal.role, Permission.members_timeline)
        else None
    )
    consents = (
        security.list_consents(session, ws, member_id)
        if allows(principal.role, Permission.consents_read)
        else []
    )
    operators = (
        [o for o in security.list_operators(session, ws) if o.disabled_at is None]
        if allows(principal.role, Permission.members_assign)
        else []
    )
    related = {m.survivor_id for m in merges} | {m.merged_id for m in merges}
    if member.merged_into_id is not None:
        related.add(member.merged_into_id)
    numbers = {mid: identity.get_member(session, ws, mid).number for mid in related}
    numbers[member.id] = member.number
    records = (
        community.service_records(session, ws, member.id)
        if allows(principal.role, Permission.members_timeline)
        else None
    )
    writers = {o.id: o.name for o in security.list_operators(session, ws)} if records else {}
    return {
        **_payments_context(session, ws, member.id),
        "service_records": records,
        "writers": writers,
        "record_kinds": ("note", "call", "visit", "complaint"),
        "active": "members",
        "member": member,
        "merges": merges,
        "timeline": timeline,
        "numbers": numbers,
        "apps": _app_names(session, ws),
        "reveal": reveal,
        "consents": consents,
        "operators": operators,
        "assignee": security.assignee_of(session, member.id),
        "tags": identity.member_tags(session, member.id),
        "notice": None,
    }


@router.get("/members/{member_id}")
def member_page(request: Request, member_id: int, principal: Reader, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
        security.record_audit(
            session, principal, "member.viewed", target_type="member", target_id=member_id
        )
    return render(request, "member.html", context)


@router.post("/members/{member_id}/erase")
def erase_member(
    request: Request,
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_erase)],
    db: DatabaseDep,
    confirm: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Erase from the profile; the operator types the member number to confirm."""
    try:
        with db.session_scope() as session:
            member = identity.get_member(session, principal.workspace_id, member_id)
            if confirm.strip() != str(member.number):
                raise Invalid("console.erase_unconfirmed", "type the member number to confirm")
            erasure.erase_member(
                session, principal.workspace_id, member_id, actor=principal.actor, via="staff"
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#erase-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.erased_done", number=member.number)
    return render(request, "_member_detail.html", context)


@router.get("/members/{member_id}/export")
def export_member(
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_export)],
    db: DatabaseDep,
) -> Response:
    """The member's own data as a JSON download (for their access request)."""
    with db.session_scope() as session:
        data = erasure.export_member(session, principal.workspace_id, member_id)
        security.record_audit(
            session, principal, "member.exported", target_type="member", target_id=member_id
        )
    body = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="member-{member_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/members/{member_id}/assign")
def assign_member(
    request: Request,
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_assign)],
    db: DatabaseDep,
    operator_id: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    try:
        with db.session_scope() as session:
            security.assign_member(session, principal, member_id, operator_id or None)
    except SiyuError as exc:
        return error_response(request, exc, target="#assign-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.assigned_done")
    return render(request, "_member_detail.html", context)


def _change_tag(
    request: Request, principal: Principal, db: Database, member_id: int, tag: str, *, add: bool
) -> Response:
    try:
        with db.session_scope() as session:
            security.ensure_member_visible(session, principal, member_id)
            ws = principal.workspace_id
            if add:
                identity.tag_members(session, ws, [member_id], tag, actor=principal.actor)
            else:
                identity.untag_members(session, ws, [member_id], tag)
            action = "member.tagged" if add else "member.untagged"
            security.record_audit(
                session, principal, action, target_type="member", target_id=member_id
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#tags-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
    return render(request, "_member_detail.html", context)


@router.post("/members/{member_id}/tags")
def tag_member(
    request: Request,
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_tag)],
    db: DatabaseDep,
    tag: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _change_tag(request, principal, db, member_id, tag, add=True)


@router.post("/members/{member_id}/tags/remove")
def untag_member(
    request: Request,
    member_id: int,
    principal: Annotated[Principal, require(Permission.members_tag)],
    db: DatabaseDep,
    tag: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _change_tag(request, principal, db, member_id, tag, add=False)


@router.get("/members/{member_id}/timeline")
def member_timeline(
    request: Request,
    member_id: int,
    principal: TimelineReader,
    db: DatabaseDep,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    with db.session_scope() as session:
        security.ensure_member_visible(session, principal, member_id)
        page = identity.get_timeline(
            session, principal.workspace_id, member_id, limit=TIMELINE_PAGE, cursor=cursor or None
        )
        apps = _app_names(session, principal.workspace_id)
    return render(
        request, "_timeline_rows.html", {"timeline": page, "apps": apps, "member_id": member_id}
    )


@router.post("/members/{member_id}/merges/{merge_id}/undo")
def undo_merge(
    request: Request, member_id: int, merge_id: int, principal: Merger, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            undone = identity.undo_merge(
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
    except SiyuError as exc:
        return error_response(request, exc, target=f"#merge-{merge_id}-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
        merged_number = identity.get_member(
            session, principal.workspace_id, undone.merged_id
        ).number
    context["notice"] = translator(request)("member.merge.undo_done", merged=merged_number)
    return render(request, "_member_detail.html", context)


# --- payments ------------------------------------------------------------------------------

PAYMENTS_PAGE = 100
ATTENTION = (RefundStatus.pending, RefundStatus.abnormal, RefundStatus.failed)


def _payments_context(session: Session, workspace_id: int, member_id: int) -> dict[str, Any]:
    orders = pay.list_orders(session, workspace_id, member_ids=[member_id], limit=PAYMENTS_PAGE)
    refunds: dict[int, list[Any]] = {}
    for refund in pay.list_refunds(session, workspace_id, order_ids=[o.id for o in orders]):
        refunds.setdefault(refund.order_id, []).insert(0, refund)
    return {"orders": orders, "refunds": refunds, "notice_order": None}


def _fen(text: str) -> int:
    """Yuan as staff type them ("3", "3.5", "3.50") → fen; anything else is refused."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise Invalid("pay.invalid_amount", "amounts are yuan with at most two decimals")
    return int(value * 100)


@router.get("/payments")
def payments_page(
    request: Request,
    principal: Annotated[Principal, require(Permission.payments_read)],
    db: DatabaseDep,
    activity: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    ws = principal.workspace_id
    code = activity.strip()
    with db.session_scope() as session:
        orders = pay.list_orders(
            session,
            ws,
            reference_prefix=f"activity:{code}:" if code else None,
            limit=PAYMENTS_PAGE,
        )
        refunds = pay.list_refunds(session, ws, statuses=ATTENTION)
        attention = [r for r in refunds if r.status != RefundStatus.pending or r.last_error]
        numbers = {
            mid: identity.get_member(session, ws, mid).number
            for mid in {o.member_id for o in orders}
        }
        context = {
            "active": "payments",
            "orders": orders,
            "activity": code,
            "totals": {
                "paid": sum(o.amount for o in orders if o.status == "paid"),
                "refunded": sum(o.refunded for o in orders),
            },
            "attention": attention,
            "numbers": numbers,
            "refused": pay.list_refused(session, ws, limit=50),
            "reconciliations": pay.list_reconciliations(session, ws),
        }
    return render(request, "payments.html", context)


@router.post("/payments/orders/{order_id}/refund")
def staff_refund_form(
    request: Request,
    order_id: int,
    principal: Annotated[Principal, require(Permission.payments_refund)],
    db: DatabaseDep,
    amount: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """A staff refund from the member page (CSRF-checked, reason required, audited);
    the job sends it to WeChat Pay."""
    ws = principal.workspace_id
    try:
        fen = _fen(amount)
        with db.session_scope() as session:
            refund = pay.refund_by_staff(
                session, ws, order_id, fen, reason, operator_id=principal.operator_id
            )
            security.record_audit(
                session,
                principal,
                "pay.refund_requested",
                target_type="order",
                target_id=order_id,
                detail={"refund_id": refund.id, "amount_fen": fen},
            )
            pay_tasks.enqueue_refund(session, refund.id)
            member_id = pay.get_order(session, ws, order_id).member_id
    except SiyuError as exc:
        return error_response(request, exc, target=f"#order-{order_id}-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = _payments_context(session, ws, member_id)
    context["notice"] = translator(request)("pay.refund.requested", amount=f"{fen / 100:.2f}")
    context["notice_order"] = order_id
    return render(request, "_member_payments.html", context)


# --- review --------------------------------------------------------------------------------


def _members_by_id(session: Session, workspace_id: int, ids: set[int]) -> dict[int, MemberRead]:
    return {mid: identity.get_member(session, workspace_id, mid) for mid in ids}


@router.get("/review")
def review_page(request: Request, principal: Merger, db: DatabaseDep) -> Response:
    ws = principal.workspace_id
    with db.session_scope() as session:
        conflicts = identity.list_conflicts(session, ws, ConflictStatus.open)
        ids = {c.member_a_id for c in conflicts} | {c.member_b_id for c in conflicts}
        members = _members_by_id(session, ws, ids)
        apps = _app_names(session, ws)
    return render(
        request,
        "review.html",
        {"active": "review", "conflicts": conflicts, "members": members, "apps": apps},
    )


def _review_done(request: Request, conflict_id: int, message: str) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/review", status_code=303)
    return render(request, "_review_done.html", {"conflict_id": conflict_id, "message": message})


@router.post("/review/{conflict_id}/merge")
def review_merge(
    request: Request,
    conflict_id: int,
    principal: Merger,
    db: DatabaseDep,
    survivor: Annotated[int, Form(gt=0)],
    merged: Annotated[int, Form(gt=0)],
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            done = identity.merge_members(
                session, ws, survivor, merged, actor=principal.actor, conflict_id=conflict_id
            )
            audit_merge(session, principal, done)
            numbers = _members_by_id(session, ws, {survivor, merged})
    except SiyuError as exc:
        return error_response(request, exc, target=f"#conflict-{conflict_id}-msg")
    message = translator(request)(
        "review.merged_done", merged=numbers[merged].number, survivor=numbers[survivor].number
    )
    return _review_done(request, conflict_id, message)


@router.post("/review/{conflict_id}/dismiss")
def review_dismiss(
    request: Request, conflict_id: int, principal: Merger, db: DatabaseDep
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            conflict = identity.dismiss_conflict(session, ws, conflict_id, actor=principal.actor)
            security.record_audit(
                session,
                principal,
                "conflict.dismissed",
                target_type="conflict",
                target_id=conflict_id,
            )
            pair = _members_by_id(session, ws, {conflict.member_a_id, conflict.member_b_id})
    except SiyuError as exc:
        return error_response(request, exc, target=f"#conflict-{conflict_id}-msg")
    message = translator(request)(
        "review.dismissed_done",
        a=pair[conflict.member_a_id].number,
        b=pair[conflict.member_b_id].number,
    )
    return _review_done(request, conflict_id, message)


# --- imports -------------------------------------------------------------------------------


def _runs_context(db: Database, workspace_id: int) -> dict[str, Any]:
    with db.session_scope() as session:
        runs = identity_imports.list_imports(session, workspace_id)
    active = any(r.status in (ImportStatus.queued, ImportStatus.running) for r in runs)
    return {"active": "imports", "runs": runs, "polling": active, "notice": None}


@router.get("/imports")
def imports_page(request: Request, principal: Importer, db: DatabaseDep) -> Response:
    return render(request, "imports.html", _runs_context(db, principal.workspace_id))


@router.get("/imports/runs")
def import_runs(request: Request, principal: Importer, db: DatabaseDep) -> Response:
    return render(request, "_import_runs.html", _runs_context(db, principal.workspace_id))


def _record_import(db: Database, principal: Principal, upload: Upload) -> None:
    with db.session_scope() as session:
        run = identity_imports.create_import(
            session,
            principal.workspace_id,
            filename=upload.filename or upload.path.name,
            path=str(upload.path.resolve()),
            size=upload.size,
            actor=principal.actor,
        )
        enqueue_after_commit(session, run_import, run.id)


@router.post("/imports")
async def upload_import(
    request: Request,
    principal: Annotated[Principal, require(Permission.imports_manage, csrf=False)],
    db: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Stream the file to disk (never whole in memory), then queue its import."""
    actor: Principal = principal
    header_token = request.headers.get(CSRF_HEADER)

    def accept(upload: Upload, filename: str) -> None:
        # `current_principal` would parse (and spool) the whole body to find a form token,
        # so this route checks CSRF itself, before the first byte of the file is kept.
        if not valid_session_csrf(actor, header_token or upload.fields.get("csrf_token")):
            raise Forbidden("auth.csrf_failed", "the form is stale or forged; reload the page")
        if not filename.lower().endswith(UPLOAD_SUFFIXES):
            raise Invalid("console.upload_type", "only .jsonl files are accepted")

    path = settings.data_dir / "imports" / f"{uuid.uuid4().hex}.jsonl"
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            path,
            file_field="file",
            max_bytes=MAX_UPLOAD_BYTES,
            accept_file=accept,
        )
        if upload.size == 0:
            path.unlink(missing_ok=True)
            raise Invalid("console.upload_empty", "the file is empty")
        await run_in_threadpool(_record_import, db, actor, upload)
    except SiyuError as exc:
        return error_response(request, exc, target="#upload-msg")
    if not is_htmx(request):
        return RedirectResponse("/imports", status_code=303)
    context = await run_in_threadpool(_runs_context, db, actor.workspace_id)
    context["notice"] = translator(request)("imports.queued_notice", name=upload.filename)
    return render(request, "_import_runs.html", context)


# --- apps ----------------------------------------------------------------------------------


def _apps_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        apps = workspaces.list_apps(session, principal.workspace_id)
    return {
        "active": "apps",
        "apps": apps,
        "app_kinds": list(AppKind),
        "entity_kinds": list(EntityKind),
        "form": {},
        "errors": {},
        "notice": None,
        "form_error": None,
    }


def _field_errors(exc: ValidationError, sent: dict[str, str], tr: Translator) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        if not where:  # the model-level format check names its field in the message
            where = "aes_key" if "EncodingAESKey" in str(error["msg"]) else "appid"
        errors.setdefault(where, tr(f"apps.invalid.{where}"))
    # The model stops at its first format error; the key's own rule is reported too.
    if sent["aes_key"].strip() and not AES_KEY.match(sent["aes_key"].strip()):
        errors.setdefault("aes_key", tr("apps.invalid.aes_key"))
    return errors


@router.get("/apps")
def apps_page(request: Request, principal: AppReader, db: DatabaseDep) -> Response:
    return render(request, "apps.html", _apps_context(db, principal))


@router.post("/apps")
def add_app(
    request: Request,
    principal: AppManager,
    db: DatabaseDep,
    kind: Annotated[str, Form(max_length=64)] = "",
    appid: Annotated[str, Form(max_length=256)] = "",
    name: Annotated[str, Form(max_length=1024)] = "",
    entity: Annotated[str, Form(max_length=1024)] = "",
    entity_kind: Annotated[str, Form(max_length=64)] = EntityKind.enterprise.value,
    secret: Annotated[str, Form(max_length=1024)] = "",
    token: Annotated[str, Form(max_length=1024)] = "",
    aes_key: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    tr = translator(request)
    sent = {
        "kind": kind,
        "appid": appid,
        "name": name,
        "entity": entity,
        "entity_kind": entity_kind,
        "secret": secret,
        "token": token,
        "aes_key": aes_key,
    }
    errors: dict[str, str] = {}
    refused: SiyuError | None = None
    try:
        data = AppCreate.model_validate(
            {
                k: v.strip() or None
                for k, v in sent.items()
                if v.strip() or k in ("kind", "appid", "name")
            }
        )
        with db.session_scope() as session:
            added = workspaces.add_app(session, principal.workspace_id, data)
            security.record_audit(
                session,
                principal,
                "app.added",
                target_type="app",
                target_id=added.id,
                detail={"kind": added.kind.value},
            )
    except ValidationError as exc:
        errors = _field_errors(exc, sent, tr)
    except SiyuError as exc:
        refused = exc
        if exc.code == "workspaces.app_exists":
            errors = {"appid": tr.refusal(exc)}
    if errors or refused is not None:
        context = _apps_context(db, principal)
        # Secrets are never sent back to the browser, not even the ones just typed.
        context["form"] = {k: v for k, v in sent.items() if k not in SECRET_FIELDS}
        context["errors"] = errors
        code = refused.code if refused is not None else "request.invalid"
        message = tr.refusal(refused) if refused is not None else tr("apps.form_invalid")
        context["form_error"] = {"code": code, "message": message}
        status = refused.status if refused is not None else 422
        return render(
            request,
            "_apps_section.html" if is_htmx(request) else "apps.html",
            context,
            status=status,
        )
    if not is_htmx(request):
        return RedirectResponse("/apps", status_code=303)
    context = _apps_context(db, principal)
    context["notice"] = tr("apps.added", name=added.name, appid=added.appid)
    return render(request, "_apps_section.html", context)


# --- audit log -----------------------------------------------------------------------------

Auditor = Annotated[Principal, require(Permission.audit_read)]
AUDIT_PAGE = 100
AUDIT_EXPORT_MAX = 100_000
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _day_bound(value: str, zone: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("console.invalid_date", "dates look like 2026-11-20") from exc
    start = datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))
    return start + timedelta(days=1) if end else start


def _audit_filters(
    principal: Principal, settings: Settings, params: dict[str, str]
) -> dict[str, Any]:
    return {
        "action": params["action"] or None,
        "actor": params["actor"] or None,
        "target_type": params["target_type"] or None,
        "target_id": params["target_id"] or None,
        "since": _day_bound(params["since"], settings.display_timezone, end=False),
        "until": _day_bound(params["until"], settings.display_timezone, end=True),
    }


@router.get("/audit")
def audit_page(
    request: Request,
    principal: Auditor,
    db: DatabaseDep,
    settings: SettingsDep,
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=32)] = "",
    target_id: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    params = {
        "action": action.strip(),
        "actor": actor.strip(),
        "target_type": target_type.strip(),
        "target_id": target_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    with db.session_scope() as session:
        entries = security.search_audit(
            session,
            principal.workspace_id,
            **_audit_filters(principal, settings, params),
            before_id=before or None,
            limit=AUDIT_PAGE + 1,
        )
        actions = security.audit_actions(session, principal.workspace_id)
    page, more = entries[:AUDIT_PAGE], len(entries) > AUDIT_PAGE
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if v)
    context = {
        "active": "audit",
        "entries": page,
        "more": more,
        "next_before": page[-1].id if more and page else None,
        "filters": params,
        "actions": actions,
        "query": query,
    }
    return render(request, "audit.html", context)


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet: quote it as text.
    return "'" + text if text.startswith(CSV_FORMULA) else text


@router.get("/audit.csv")
def audit_export(
    principal: Auditor,
    db: DatabaseDep,
    settings: SettingsDep,
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=32)] = "",
    target_id: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The filtered audit log as CSV (the export itself is audited)."""
    params = {
        "action": action.strip(),
        "actor": actor.strip(),
        "target_type": target_type.strip(),
        "target_id": target_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    filters = _audit_filters(principal, settings, params)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "id",
            "time_utc",
            "actor",
            "role",
            "action",
            "target_type",
            "target_id",
            "request_id",
            "detail",
        ]
    )
    with db.session_scope() as session:
        before: int | None = None
        written = 0
        while written < AUDIT_EXPORT_MAX:
            rows = security.search_audit(
                session, principal.workspace_id, **filters, before_id=before, limit=500
            )
            for e in rows:
                writer.writerow(
                    [
                        _csv_cell(v)
                        for v in (
                            e.id,
                            e.created_at.isoformat(),
                            e.actor,
                            e.actor_role,
                            e.action,
                            e.target_type,
                            e.target_id,
                            e.request_id,
                            orjson.dumps(e.detail).decode(),
                        )
                    ]
                )
            written += len(rows)
            if len(rows) < 500:
                break
            before = rows[-1].id
        security.record_audit(
            session,
            principal,
            "audit.exported",
            detail={"rows": written, **{k: v for k, v in params.items() if v and k != "actor"}},
        )
    return Response(
        "\ufeff" + buffer.getvalue(),  # a BOM, so that Excel reads the UTF-8 as such
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="siyu-audit.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- operators -----------------------------------------------------------------------------

OperatorAdmin = Annotated[Principal, require(Permission.operators_manage)]


def _operators_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        operators = security.list_operators(session, principal.workspace_id)
    return {
        "active": "operators",
        "operators": operators,
        "roles": list(Role),
        "notice": None,
        "form": {},
    }


def _operators_answer(
    request: Request, db: DatabaseDep, principal: Principal, notice: str
) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/operators", status_code=303)
    context = _operators_context(db, principal)
    context["notice"] = notice
    return render(request, "_operators_section.html", context)


@router.get("/operators")
def operators_page(request: Request, principal: OperatorAdmin, db: DatabaseDep) -> Response:
    return render(request, "operators.html", _operators_context(db, principal))


@router.post("/operators")
def add_operator(
    request: Request,
    principal: OperatorAdmin,
    db: DatabaseDep,
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        if role not in Role.__members__:
            raise Invalid("security.invalid_role", f"unknown role {role!r}")
        with db.session_scope() as session:
            created = security.add_operator(
                session, principal, email, password, name=name, role=Role(role)
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#operator-form-msg")
    notice = translator(request)("operators.added", email=created.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/role")
def change_operator_role(
    request: Request,
    operator_id: int,
    principal: OperatorAdmin,
    db: DatabaseDep,
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        if role not in Role.__members__:
            raise Invalid("security.invalid_role", f"unknown role {role!r}")
        with db.session_scope() as session:
            changed = security.change_role(session, principal, operator_id, Role(role))
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.role_changed", email=changed.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/disable")
def disable_operator(
    request: Request, operator_id: int, principal: OperatorAdmin, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            changed = security.disable_operator(session, principal, operator_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.disabled", email=changed.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/enable")
def enable_operator(
    request: Request, operator_id: int, principal: OperatorAdmin, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            changed = security.enable_operator(session, principal, operator_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.enabled", email=changed.email)
    return _operators_answer(request, db, principal, notice)
