"""Console pages: login, overview, members, review, imports and apps (Jinja2 + htmx + ECharts)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

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
from siyu.core.errors import Forbidden, Invalid, SiyuError, Unauthorized
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.jobs import enqueue_after_commit
from siyu.identity import imports as identity_imports
from siyu.identity import service as identity
from siyu.identity.models import ConflictStatus, ImportStatus
from siyu.identity.schemas import MemberRead
from siyu.identity.tasks import run_import
from siyu.security import service as security
from siyu.security.auth import CSRF_HEADER, SESSION_COOKIE, Authenticated, principal_or_none
from siyu.security.models import Role
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
REVEAL_PHONE_ROLES = frozenset({Role.owner, Role.admin})
UPLOAD_SUFFIXES = (".jsonl", ".ndjson")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
LOGIN_CSRF_SECONDS = 2 * 3600
LANG_SECONDS = 365 * 24 * 3600
APP_FIELDS = ("kind", "appid", "name", "entity", "entity_kind", "secret", "token", "aes_key")
SECRET_FIELDS = frozenset({"secret", "token", "aes_key"})

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
MaybePrincipal = Annotated[Principal | None, Depends(principal_or_none)]
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
            "message": translator(request).error(error.code, error.message),
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
    try:
        with db.session_scope() as session:
            principal = security.authenticate(session, email, password)
            fresh = security.start_session(session, principal, settings.session_hours)
            if previous := request.cookies.get(SESSION_COOKIE):
                security.end_session(session, previous)
    except Unauthorized as exc:
        return _login_page(request, settings, next_url=target, email=email, error=exc, status=401)
    response = RedirectResponse(target, status_code=303)
    set_cookie(
        response, settings, SESSION_COOKIE, fresh.token, max_age=settings.session_hours * 3600
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, principal: Authenticated, db: DatabaseDep, settings: SettingsDep
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


@router.get("/")
def overview_page(
    request: Request, principal: Authenticated, db: DatabaseDep, settings: SettingsDep
) -> Response:
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


@router.get("/members")
def members_page(
    request: Request,
    principal: Authenticated,
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
        )
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
    reveal = principal.role in REVEAL_PHONE_ROLES
    member = identity.get_member(session, ws, member_id, reveal_phone=reveal)
    merges = identity.list_merges(session, ws, member_id)
    timeline = identity.get_timeline(session, ws, member_id, limit=TIMELINE_PAGE)
    related = {m.survivor_id for m in merges} | {m.merged_id for m in merges}
    if member.merged_into_id is not None:
        related.add(member.merged_into_id)
    numbers = {mid: identity.get_member(session, ws, mid).number for mid in related}
    numbers[member.id] = member.number
    return {
        **_payments_context(session, ws, member.id),
        "active": "members",
        "member": member,
        "merges": merges,
        "timeline": timeline,
        "numbers": numbers,
        "apps": _app_names(session, ws),
        "reveal": reveal,
        "notice": None,
    }


@router.get("/members/{member_id}")
def member_page(
    request: Request, member_id: int, principal: Authenticated, db: DatabaseDep
) -> Response:
    with db.session_scope() as session:
        context = _member_context(session, principal, member_id)
    return render(request, "member.html", context)


@router.get("/members/{member_id}/timeline")
def member_timeline(
    request: Request,
    member_id: int,
    principal: Authenticated,
    db: DatabaseDep,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    with db.session_scope() as session:
        page = identity.get_timeline(
            session, principal.workspace_id, member_id, limit=TIMELINE_PAGE, cursor=cursor or None
        )
        apps = _app_names(session, principal.workspace_id)
    return render(
        request, "_timeline_rows.html", {"timeline": page, "apps": apps, "member_id": member_id}
    )


@router.post("/members/{member_id}/merges/{merge_id}/undo")
def undo_merge(
    request: Request, member_id: int, merge_id: int, principal: Authenticated, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            undone = identity.undo_merge(
                session, principal.workspace_id, merge_id, actor=principal.actor
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
def payments_page(request: Request, principal: Authenticated, db: DatabaseDep) -> Response:
    ws = principal.workspace_id
    with db.session_scope() as session:
        orders = pay.list_orders(session, ws, limit=PAYMENTS_PAGE)
        refunds = pay.list_refunds(session, ws, statuses=ATTENTION)
        attention = [r for r in refunds if r.status != RefundStatus.pending or r.last_error]
        numbers = {
            mid: identity.get_member(session, ws, mid).number
            for mid in {o.member_id for o in orders}
        }
        context = {
            "active": "payments",
            "orders": orders,
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
    principal: Authenticated,
    db: DatabaseDep,
    amount: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """A staff refund from the member page (CSRF-checked by `Authenticated`, reason required);
    the job sends it to WeChat Pay."""
    ws = principal.workspace_id
    try:
        fen = _fen(amount)
        with db.session_scope() as session:
            refund = pay.refund_by_staff(
                session, ws, order_id, fen, reason, operator_id=principal.operator_id
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
def review_page(request: Request, principal: Authenticated, db: DatabaseDep) -> Response:
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
    principal: Authenticated,
    db: DatabaseDep,
    survivor: Annotated[int, Form(gt=0)],
    merged: Annotated[int, Form(gt=0)],
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            identity.merge_members(
                session, ws, survivor, merged, actor=principal.actor, conflict_id=conflict_id
            )
            numbers = _members_by_id(session, ws, {survivor, merged})
    except SiyuError as exc:
        return error_response(request, exc, target=f"#conflict-{conflict_id}-msg")
    message = translator(request)(
        "review.merged_done", merged=numbers[merged].number, survivor=numbers[survivor].number
    )
    return _review_done(request, conflict_id, message)


@router.post("/review/{conflict_id}/dismiss")
def review_dismiss(
    request: Request, conflict_id: int, principal: Authenticated, db: DatabaseDep
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            conflict = identity.dismiss_conflict(session, ws, conflict_id, actor=principal.actor)
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
def imports_page(request: Request, principal: Authenticated, db: DatabaseDep) -> Response:
    return render(request, "imports.html", _runs_context(db, principal.workspace_id))


@router.get("/imports/runs")
def import_runs(request: Request, principal: Authenticated, db: DatabaseDep) -> Response:
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
    request: Request, principal: MaybePrincipal, db: DatabaseDep, settings: SettingsDep
) -> Response:
    """Stream the file to disk (never whole in memory), then queue its import."""
    if principal is None:
        raise Unauthorized("auth.required", "sign in or send an API token")
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
def apps_page(request: Request, principal: Authenticated, db: DatabaseDep) -> Response:
    return render(request, "apps.html", _apps_context(db, principal))


@router.post("/apps")
def add_app(
    request: Request,
    principal: Authenticated,
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
    except ValidationError as exc:
        errors = _field_errors(exc, sent, tr)
    except SiyuError as exc:
        refused = exc
        if exc.code == "workspaces.app_exists":
            errors = {"appid": tr.error(exc.code, exc.message)}
    if errors or refused is not None:
        context = _apps_context(db, principal)
        # Secrets are never sent back to the browser, not even the ones just typed.
        context["form"] = {k: v for k, v in sent.items() if k not in SECRET_FIELDS}
        context["errors"] = errors
        code = refused.code if refused is not None else "request.invalid"
        message = (
            tr.error(refused.code, refused.message)
            if refused is not None
            else tr("apps.form_invalid")
        )
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
