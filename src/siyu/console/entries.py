"""Console pages for entries: channels (report, chart, CSV, codes to download) and menus (edit,
preview, save, publish, per-button report)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import StreamingResponse
from starlette.responses import RedirectResponse, Response

from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.errors import Invalid, SiyuError
from siyu.core.http import DatabaseDep
from siyu.entries import flows, service
from siyu.entries.models import CodeKind
from siyu.entries.routes import conversion_event, gateway, report_csv
from siyu.entries.schemas import ArticleCreate, ChannelCreate, CodeCreate
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.entries_read)]
Manager = Annotated[Principal, require(Permission.entries_manage)]
EventQuery = Annotated[str, Query(max_length=64)]
OA_KINDS = (AppKind.oa_service, AppKind.oa_subscription)
CONVERSION_CHOICES = (
    "pay.paid",
    "mp.login",
    "activity.enroll",
    "activity.checkin",
    "order.created",
)


def _apps(db: Any, workspace_id: int) -> list[Any]:
    with db.session_scope() as session:
        return workspaces.list_apps(session, workspace_id)


@router.get("/channels")
def channels_page(
    request: Request, principal: Reader, db: DatabaseDep, event: EventQuery = "pay.paid"
) -> Response:
    event = conversion_event(event)
    with db.session_scope() as session:
        report = service.channel_report(session, principal.workspace_id, event=event)
        channels = {c.id: c for c in service.list_channels(session, principal.workspace_id)}
        conversion = service.follow_conversion(session, principal.workspace_id)
        articles = service.article_report(session, principal.workspace_id, event=event)
    tr = translator(request)
    chart = {
        "names": [r.name for r in report.rows],
        "series": [
            {"name": tr("channels.col.scans"), "data": [r.scans for r in report.rows]},
            {
                "name": tr("channels.col.new_followers"),
                "data": [r.new_followers for r in report.rows],
            },
            {"name": tr("channels.col.conversions"), "data": [r.conversions for r in report.rows]},
        ],
    }
    apps = [a for a in _apps(db, principal.workspace_id) if a.kind in (*OA_KINDS, AppKind.mp)]
    context = {
        "active": "channels",
        "report": report,
        "channels": channels,
        "chart": chart,
        "event": event,
        "events": CONVERSION_CHOICES,
        "apps": apps,
        "code_kinds": list(CodeKind),
        "conversion": conversion,
        "articles": articles,
        "oa_apps": [a for a in apps if a.kind in OA_KINDS],
    }
    return render(request, "entries_channels.html", context)


@router.get("/channels.csv")
def channels_csv(principal: Reader, db: DatabaseDep, event: EventQuery = "pay.paid") -> Response:
    with db.session_scope() as session:
        report = service.channel_report(
            session, principal.workspace_id, event=conversion_event(event)
        )
    return StreamingResponse(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="siyu-channels.csv"',
            "Cache-Control": "no-store",
        },
    )


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.replace("，", ",").split(",") if t.strip()]


@router.post("/channels")
def create_channel(
    request: Request,
    principal: Manager,
    db: DatabaseDep,
    name: Annotated[str, Form(max_length=100)] = "",
    slug: Annotated[str, Form(max_length=64)] = "",
    group: Annotated[str, Form(max_length=64)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    welcome: Annotated[str, Form(max_length=600)] = "",
    target_page: Annotated[str, Form(max_length=256)] = "",
    appid: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    days: Annotated[int, Form(ge=1, le=30)] = 30,
) -> Response:
    try:
        data = ChannelCreate(
            name=name,
            slug=slug.strip() or None,
            group=group,
            tags=_tags(tags),
            welcome=welcome,
            target_page=target_page,
        )
        code = CodeCreate(appid=appid, kind=CodeKind(kind), expire_days=days) if appid else None
    except (ValueError, SiyuError) as exc:
        raise Invalid("request.invalid", str(exc)[:300]) from exc
    with db.session_scope() as session:
        channel = service.create_channel(
            session, principal.workspace_id, data, actor=principal.email
        )
        security.record_audit(
            session, principal, "entries.channel_created", target_type="channel",
            target_id=channel.id,
        )  # fmt: skip
    if code is not None:
        flows.issue_code(
            db,
            gateway(request),
            principal.workspace_id,
            channel.id,
            code,
            actor=principal.email,
            settings=request.app.state.settings,
        )
    return RedirectResponse(f"/channels/{channel.id}", status_code=303)


@router.post("/articles")
def add_article(
    principal: Manager,
    db: DatabaseDep,
    oa_appid: Annotated[str, Form(max_length=64)] = "",
    title: Annotated[str, Form(max_length=64)] = "",
    url: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Register an OA article for the Mini Program to open, with attribution."""
    try:
        data = ArticleCreate(oa_appid=oa_appid, title=title, url=url)
    except ValueError as exc:
        raise Invalid("request.invalid", str(exc)[:300]) from exc
    with db.session_scope() as session:
        article = service.add_article(session, principal.workspace_id, data, actor=principal.email)
        security.record_audit(
            session, principal, "entries.article_added", target_type="article",
            target_id=article.id,
        )  # fmt: skip
    return RedirectResponse("/channels#articles", status_code=303)


@router.get("/channels/{channel_id}")
def channel_page(request: Request, channel_id: int, principal: Reader, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        channel = service.get_channel(session, principal.workspace_id, channel_id)
        arrivals = service.arrivals_of_channel(session, principal.workspace_id, channel_id)
    apps = [a for a in _apps(db, principal.workspace_id) if a.kind in (*OA_KINDS, AppKind.mp)]
    context = {
        "active": "channels",
        "channel": channel,
        "arrivals": arrivals,
        "apps": apps,
        "code_kinds": list(CodeKind),
        "sizes": flows.PRINT_SIZES,
    }
    return render(request, "entries_channel.html", context)


@router.post("/channels/{channel_id}/codes")
def add_code(
    request: Request,
    channel_id: int,
    principal: Manager,
    db: DatabaseDep,
    appid: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    days: Annotated[int, Form(ge=1, le=30)] = 30,
) -> Response:
    try:
        code = CodeCreate(appid=appid, kind=CodeKind(kind), expire_days=days)
    except ValueError as exc:
        raise Invalid("request.invalid", str(exc)[:300]) from exc
    issued = flows.issue_code(
        db,
        gateway(request),
        principal.workspace_id,
        channel_id,
        code,
        actor=principal.email,
        settings=request.app.state.settings,
    )
    with db.session_scope() as session:
        security.record_audit(
            session, principal, "entries.code_issued", target_type="code",
            target_id=issued.code.id, detail={"kind": issued.code.kind},
        )  # fmt: skip
    return RedirectResponse(f"/channels/{channel_id}", status_code=303)


@router.post("/channels/{channel_id}/archive")
def archive_channel(channel_id: int, principal: Manager, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        service.archive_channel(session, principal.workspace_id, channel_id)
        security.record_audit(
            session, principal, "entries.channel_archived", target_type="channel",
            target_id=channel_id,
        )  # fmt: skip
    return RedirectResponse(f"/channels/{channel_id}", status_code=303)


# --- menus ---------------------------------------------------------------------------------


def _menus_context(
    db: Any, principal: Principal, appid: str, event: str = "pay.paid"
) -> dict[str, Any]:
    oas = [a for a in _apps(db, principal.workspace_id) if a.kind in OA_KINDS]
    chosen = appid or (oas[0].appid if oas else "")
    versions, report = [], None
    if chosen:
        with db.session_scope() as session:
            versions = service.list_menus(session, principal.workspace_id, chosen)
            report = service.menu_report(session, principal.workspace_id, chosen, event=event)
    draft = (
        json.dumps({"button": versions[0].buttons}, ensure_ascii=False, indent=2)
        if versions
        else ""
    )
    return {
        "active": "menus",
        "oas": oas,
        "appid": chosen,
        "versions": versions,
        "report": report,
        "draft": draft,
        "preview": None,
        "notice": None,
    }


@router.get("/menus")
def menus_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    appid: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    return render(request, "entries_menus.html", _menus_context(db, principal, appid))


def _menu_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise Invalid("entries.menu_not_json", f"the menu is not JSON: {exc}") from exc


@router.post("/menus")
def menu_action(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    appid: Annotated[str, Form(max_length=64)] = "",
    menu: Annotated[str, Form(max_length=65536)] = "",
    action: Annotated[str, Form(max_length=16)] = "preview",
) -> Response:
    """Preview (any reader), or save (managers) the menu in the editor."""
    body = _menu_json(menu)
    tr = translator(request)
    context = _menus_context(db, principal, appid)
    context["draft"] = menu
    if action == "save":
        security.require_permission(principal, Permission.entries_manage)
        with db.session_scope() as session:
            saved = service.save_menu(
                session, principal.workspace_id, appid, body, actor=principal.email
            )
            security.record_audit(
                session, principal, "entries.menu_saved", target_type="menu",
                target_id=saved.id, detail={"version": saved.version},
            )  # fmt: skip
        context = _menus_context(db, principal, appid)
        context["notice"] = tr("menus.saved", version=saved.version)
    else:
        with db.session_scope() as session:
            sent = service.preview_menu(session, principal.workspace_id, appid, body)
        context["preview"] = json.dumps({"button": sent}, ensure_ascii=False, indent=2)
    return render(request, "entries_menus.html", context)


@router.post("/menus/{appid}/{version}/publish")
def publish_menu(
    request: Request, appid: str, version: int, principal: Manager, db: DatabaseDep
) -> Response:
    menu = flows.publish_menu(db, gateway(request), principal.workspace_id, appid, version)
    with db.session_scope() as session:
        security.record_audit(
            session, principal, "entries.menu_published", target_type="menu", target_id=menu.id,
            detail={"version": version},
        )  # fmt: skip
    context = _menus_context(db, principal, appid)
    context["notice"] = translator(request)("menus.published", version=version)
    return render(request, "entries_menus.html", context)
