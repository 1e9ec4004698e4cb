"""API for entries: associations, channels and codes, menus, reports."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel

from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number
from siyu.entries import service
from siyu.entries.enums import LinkStatus
from siyu.entries.schemas import (
    ArticleCreate,
    ArticleOpened,
    ArticleOpenIn,
    ArticleRead,
    ArticleReportRow,
    AssociationCreate,
    AssociationRead,
    ChannelCreate,
    ChannelRead,
    ChannelReport,
    CodeCreate,
    CodeIssued,
    ConditionalMenuCreate,
    ConditionalMenuRead,
    FollowConversion,
    MenuMatchRead,
    MenuRead,
    MenuReport,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat

router = APIRouter(prefix="/api/entries", tags=["entries"])
# What WeChat users open: the MP → OA hand-off page, its token signed (no staff session).
public = APIRouter(tags=["entries"])
# What the Mini Program calls, with its session.
mp_router = APIRouter(prefix="/api/mp", tags=["mini program"])
Authorization = Annotated[str | None, Header()]
Reader = Annotated[Principal, require(Permission.entries_read)]
Manager = Annotated[Principal, require(Permission.entries_manage)]
EventParam = Annotated[str, Query(max_length=64)]


# --- associations --------------------------------------------------------------------------


@router.get("/associations")
def list_associations(principal: Reader, db: DatabaseDep) -> list[AssociationRead]:
    with db.session_scope() as session:
        return service.list_associations(session, principal.workspace_id)


@router.post("/associations", status_code=201)
def link_apps(
    body: AssociationCreate, principal: Manager, db: DatabaseDep, request: Request
) -> AssociationRead:
    """Record an OA → MP link request; refused (409 `entries.limit.<name>`) past a limit."""
    with db.session_scope() as session:
        return service.link_apps(
            session,
            principal.workspace_id,
            body.oa_appid,
            body.mp_appid,
            notify_followers=body.notify_followers,
            actor=principal,
            settings=request.app.state.settings,
        )


class LinkStatusIn(BaseModel):
    status: Literal["linked", "refused", "pending"]


@router.post("/associations/{association_id}/status")
def set_link_status(
    association_id: Id, body: LinkStatusIn, principal: Manager, db: DatabaseDep
) -> AssociationRead:
    """What the admins answered on WeChat: linked or refused."""
    with db.session_scope() as session:
        return service.set_link_status(
            session, principal.workspace_id, association_id, LinkStatus(body.status),
            actor=principal,
        )  # fmt: skip


@router.delete("/associations/{association_id}")
def unlink_apps(association_id: Id, principal: Manager, db: DatabaseDep) -> AssociationRead:
    """The link was ended in WeChat (or the request withdrawn): record it."""
    with db.session_scope() as session:
        return service.unlink_apps(session, principal.workspace_id, association_id, actor=principal)


# --- channels and codes --------------------------------------------------------------------


class ChannelWithCode(ChannelCreate):
    code: CodeCreate | None = None


@router.get("/channels")
def list_channels(principal: Reader, db: DatabaseDep) -> list[ChannelRead]:
    with db.session_scope() as session:
        return service.list_channels(session, principal.workspace_id)


@router.post("/channels", status_code=201)
def create_channel(
    body: ChannelWithCode, principal: Manager, db: DatabaseDep, request: Request
) -> ChannelRead | CodeIssued:
    """A channel, and its first code when `code` is given (then the answer names the code)."""
    data = ChannelCreate.model_validate(body.model_dump(exclude={"code"}))
    return service.create_channel_with_code(
        db, principal.workspace_id, data, body.code,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip


@router.get("/channels/{channel_id}")
def get_channel(channel_id: Id, principal: Reader, db: DatabaseDep) -> ChannelRead:
    with db.session_scope() as session:
        return service.get_channel(session, principal.workspace_id, channel_id)


@router.post("/channels/{channel_id}/archive")
def archive_channel(channel_id: Id, principal: Manager, db: DatabaseDep) -> ChannelRead:
    with db.session_scope() as session:
        return service.archive_channel(session, principal.workspace_id, channel_id, actor=principal)


@router.post("/channels/{channel_id}/codes", status_code=201)
def add_code(
    channel_id: Id, body: CodeCreate, principal: Manager, db: DatabaseDep, request: Request
) -> CodeIssued:
    return service.issue_code(
        db, principal.workspace_id, channel_id, body,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip


@router.get("/codes/{code_id}/image")
def code_image(
    code_id: Id,
    principal: Reader,
    db: DatabaseDep,
    fmt: Annotated[Literal["png", "svg"], Query(alias="format")] = "png",
    size: Annotated[int, Query(ge=1, le=10_000)] = 860,  # the service takes its print sizes
) -> Response:
    """The code to print: PNG at 430, 860 or 1280 px, or SVG (OA codes and links)."""
    with db.session_scope() as session:
        code, image = service.get_code(session, principal.workspace_id, code_id)
    body, media_type = service.code_image(code.kind, code.url, image, fmt=fmt, size=size)
    name = f"siyu-code-{code.id}-{code.scene}.{fmt}"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- menus ---------------------------------------------------------------------------------


@router.get("/menus/{appid}")
def list_menus(appid: str, principal: Reader, db: DatabaseDep) -> list[MenuRead]:
    with db.session_scope() as session:
        return service.list_menus(session, principal.workspace_id, appid)


@router.post("/menus/{appid}/preview")
def preview_menu(
    appid: str, principal: Reader, db: DatabaseDep, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    """The menu as WeChat would get it, or 422 `entries.menu_invalid` naming rule and button."""
    with db.session_scope() as session:
        return {"button": service.preview_menu(session, principal.workspace_id, appid, body)}


@router.post("/menus/{appid}", status_code=201)
def save_menu(
    appid: str, principal: Manager, db: DatabaseDep, body: Annotated[Any, Body()] = None
) -> MenuRead:
    with db.session_scope() as session:
        return service.save_menu(session, principal.workspace_id, appid, body, actor=principal)


@router.post("/menus/{appid}/{version}/publish")
def publish_menu(
    appid: str, version: Number, principal: Manager, db: DatabaseDep, request: Request
) -> MenuRead:
    return service.publish_menu(
        db, principal.workspace_id, appid, version,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip


@router.get("/menus/{appid}/conditional")
def list_conditional_menus(
    appid: str, principal: Reader, db: DatabaseDep
) -> list[ConditionalMenuRead]:
    """The OA's conditional menus (by OA tag) on WeChat, newest first (matched first)."""
    with db.session_scope() as session:
        return service.list_conditional_menus(session, principal.workspace_id, appid)


@router.post("/menus/{appid}/conditional", status_code=201)
def publish_conditional_menu(
    appid: str, body: ConditionalMenuCreate, principal: Manager, db: DatabaseDep, request: Request
) -> ConditionalMenuRead:
    """Publish a conditional menu for the followers carrying an OA tag (`addconditional`)."""
    return service.publish_conditional_menu(
        db, principal.workspace_id, appid, body,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip


@router.delete("/menus/{appid}/conditional/{menu_id}")
def delete_conditional_menu(
    appid: str, menu_id: Id, principal: Manager, db: DatabaseDep, request: Request
) -> ConditionalMenuRead:
    """Remove a conditional menu from WeChat (`delconditional`)."""
    return service.delete_conditional_menu(
        db, principal.workspace_id, appid, menu_id,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip


@router.get("/menus/{appid}/trymatch")
def try_match_menu(
    appid: str,
    number: Annotated[Number, Query()],
    principal: Reader,
    db: DatabaseDep,
    request: Request,
) -> MenuMatchRead:
    """The menu the member with this number would see (WeChat's `trymatch`)."""
    return service.try_match_menu(
        db, principal.workspace_id, appid, number, settings=request.app.state.settings
    )


# --- reports -------------------------------------------------------------------------------


@router.get("/reports/channels")
def channel_report(
    principal: Reader,
    db: DatabaseDep,
    event: EventParam = service.DEFAULT_CONVERSION,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ChannelReport:
    with db.session_scope() as session:
        return service.channel_report(
            session,
            principal.workspace_id,
            event=service.conversion_event(event),
            since=since,
            until=until,
        )


@router.get("/reports/articles")
def article_report(
    principal: Reader, db: DatabaseDep, event: EventParam = service.DEFAULT_CONVERSION
) -> list[ArticleReportRow]:
    """Per registered article: opens from the Mini Program, members, conversions after."""
    with db.session_scope() as session:
        return service.article_report(
            session, principal.workspace_id, event=service.conversion_event(event)
        )


@router.get("/reports/follow-conversion")
def follow_conversion(
    principal: Reader,
    db: DatabaseDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[FollowConversion]:
    """Per linked MP → OA pair: MP members of the period and how many then followed the OA."""
    with db.session_scope() as session:
        return service.follow_conversion(session, principal.workspace_id, since=since, until=until)


@router.get("/reports/channels.csv")
def channel_report_csv(
    principal: Reader,
    db: DatabaseDep,
    event: EventParam = service.DEFAULT_CONVERSION,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    with db.session_scope() as session:
        report = service.channel_report(
            session,
            principal.workspace_id,
            event=service.conversion_event(event),
            since=since,
            until=until,
        )
    return StreamingResponse(
        service.channel_report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="siyu-channels.csv"'},
    )


@router.get("/reports/menus/{appid}")
def menu_report(
    appid: str, principal: Reader, db: DatabaseDep, event: EventParam = service.DEFAULT_CONVERSION
) -> MenuReport:
    with db.session_scope() as session:
        return service.menu_report(
            session, principal.workspace_id, appid, event=service.conversion_event(event)
        )


# --- the hand-off page (public) -------------------------------------------------------------

TOKEN = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[0-9]+-[0-9a-f]+$")]


@public.get("/q/{token}", response_class=HTMLResponse)
def handoff_page(token: TOKEN, request: Request, db: DatabaseDep) -> HTMLResponse:
    """A page a Mini Program user opens from the hand-off card: the OA's QR code to long-press."""
    with db.session_scope() as session:
        page = service.open_handoff(session, token, request.app.state.settings)
    name = escape(page.account_name)
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>关注{name}</title>
<style>body{{font-family:system-ui,sans-serif;text-align:center;margin:2rem 1rem;color:#222}}
img{{width:min(80vw,320px);height:auto}}p{{color:#666}}</style></head>
<body><h1>{name}</h1>
<img src="/q/{token}/qr.png" alt="{name} 二维码">
<p>长按识别二维码，关注公众号</p></body></html>"""
    return HTMLResponse(body)


@public.get("/q/{token}/qr.png")
def handoff_image(token: TOKEN, request: Request, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        page = service.open_handoff(session, token, request.app.state.settings)
    body, media_type = service.code_image(
        page.code.kind, page.code.url, page.image, fmt="png", size=430
    )
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=300"})


# --- article reuse ---------------------------------------------------------------------------


@router.post("/articles", status_code=201)
def add_article(body: ArticleCreate, principal: Manager, db: DatabaseDep) -> ArticleRead:
    """Register an OA article for the Mini Program to open, with attribution."""
    with db.session_scope() as session:
        return service.add_article(session, principal.workspace_id, body, actor=principal)


@router.get("/articles")
def list_articles(principal: Reader, db: DatabaseDep) -> list[ArticleRead]:
    with db.session_scope() as session:
        return service.list_articles(session, principal.workspace_id)


@mp_router.get("/{appid}/articles")
def mp_articles(
    appid: str, db: DatabaseDep, authorization: Authorization = None
) -> list[ArticleRead]:
    """The articles this Mini Program may open (of OAs linked to it), each with its query."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.articles_for_mp(session, principal.app)


@mp_router.post("/{appid}/articles/{article_id}/open")
def open_article(
    appid: str,
    article_id: Id,
    db: DatabaseDep,
    body: ArticleOpenIn | None = None,
    authorization: Authorization = None,
) -> ArticleOpened:
    """The Mini Program opened an article in its web-view: attributed on the timeline."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.record_article_open(
            session,
            principal.app,
            principal.member_id,
            article_id,
            body.open_id if body else None,
        )
