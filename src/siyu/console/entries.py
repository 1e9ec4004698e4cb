"""Console pages for entries: channels (report, chart, CSV, codes to download) and articles
(the menu editor is `console.menus`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.entries import service
from siyu.entries.enums import CodeKind
from siyu.entries.schemas import ArticleCreate, ChannelCreate, CodeCreate, CodeIssued
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
    event = service.conversion_event(event)
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
            session, principal.workspace_id, event=service.conversion_event(event)
        )
    return StreamingResponse(
        service.channel_report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="siyu-channels.csv"',
            "Cache-Control": "no-store",
        },
    )


class _EntriesForm(ConsoleForm):
    messages: ClassVar[str | None] = "entries.invalid"
    labels: ClassVar[Mapping[str, str]] = {
        "name": "channels.field.name",
        "slug": "channels.field.slug",
        "group": "channels.field.group",
        "tags": "channels.field.tags",
        "welcome": "channels.field.welcome",
        "target_page": "channels.field.target_page",
        "appid": "channels.field.app",
        "kind": "channels.field.kind",
        "days": "channels.field.days",
        "oa_appid": "articles.field.oa",
        "title": "articles.col.title",
        "url": "articles.field.url",
    }
    # The code's validity is the form's `days`.
    fields_of: ClassVar[Mapping[str, str]] = {"expire_days": "days"}


class CodeForm(_EntriesForm):
    """A code to issue for a channel: which app, which kind, how long a temporary one lives."""

    appid: str = Field(default="", max_length=64)
    kind: str = Field(default="", max_length=32)
    days: int = Field(default=30, ge=1, le=30)

    def to_code(self, tr: Translator) -> CodeCreate:
        return self.build(CodeCreate, tr, appid=self.appid, kind=self.kind, expire_days=self.days)


class ChannelForm(CodeForm):
    """A channel, with its first code when an app is chosen."""

    name: str = Field(default="", max_length=100)
    slug: str = Field(default="", max_length=64)
    group: str = Field(default="", max_length=64)
    tags: str = Field(default="", max_length=1000)
    welcome: str = Field(default="", max_length=600)
    target_page: str = Field(default="", max_length=256)

    def to_create(self, tr: Translator) -> ChannelCreate:
        tags = [t.strip() for t in self.tags.replace("，", ",").split(",") if t.strip()]
        return self.build(
            ChannelCreate,
            tr,
            name=self.name,
            slug=self.slug.strip() or None,
            group=self.group,
            tags=tags,
            welcome=self.welcome,
            target_page=self.target_page,
        )


class ArticleForm(_EntriesForm):
    oa_appid: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=64)
    url: str = Field(default="", max_length=1024)

    def to_create(self, tr: Translator) -> ArticleCreate:
        return self.build(ArticleCreate, tr, oa_appid=self.oa_appid, title=self.title, url=self.url)


@router.post("/channels")
def create_channel(
    request: Request, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    form = parse_form(posted, ChannelForm, tr)
    data = form.to_create(tr)
    code = form.to_code(tr) if form.appid else None
    made = service.create_channel_with_code(
        db, principal.workspace_id, data, code,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip
    channel_id = made.channel.id if isinstance(made, CodeIssued) else made.id
    return RedirectResponse(f"/channels/{channel_id}", status_code=303)


@router.post("/articles")
def add_article(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    """Register an OA article for the Mini Program to open, with attribution."""
    tr = translator(request)
    data = parse_form(posted, ArticleForm, tr).to_create(tr)
    with db.session_scope() as session:
        service.add_article(session, principal.workspace_id, data, actor=principal)
    return RedirectResponse("/channels#articles", status_code=303)


@router.get("/channels/{channel_id}")
def channel_page(request: Request, channel_id: Id, principal: Reader, db: DatabaseDep) -> Response:
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
        "sizes": service.PRINT_SIZES,
    }
    return render(request, "entries_channel.html", context)


@router.post("/channels/{channel_id}/codes")
def add_code(
    request: Request, channel_id: Id, principal: Manager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    code = parse_form(posted, CodeForm, tr).to_code(tr)
    service.issue_code(
        db, principal.workspace_id, channel_id, code,
        actor=principal, settings=request.app.state.settings,
    )  # fmt: skip
    return RedirectResponse(f"/channels/{channel_id}", status_code=303)


@router.post("/channels/{channel_id}/archive")
def archive_channel(channel_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        service.archive_channel(session, principal.workspace_id, channel_id, actor=principal)
    return RedirectResponse(f"/channels/{channel_id}", status_code=303)
