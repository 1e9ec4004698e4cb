"""Console overview: the workspace's figures for roles that read analytics, the backlog of
background work (with a warning when pushes wait too long), and the work set aside."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.jobs import lane_depths
from siyu.core.params import Id
from siyu.identity import service as identity
from siyu.reach import service as reach
from siyu.security.auth import SignedIn, require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.security.service import allows
from siyu.wechat import service as wechat
from siyu.wechat.pay import service as pay

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

BACKLOG_MINUTES = 5
# Past this a push backlog is worth an operator's look: WeChat gave up waiting on the push
# long ago (5 s), and a follower's welcome or a reply the budget missed waits on it.
PUSH_BACKLOG_WARNING_SECONDS = 5 * 60

AppsReader = Annotated[Principal, require(Permission.apps_read)]
AppsManager = Annotated[Principal, require(Permission.apps_manage)]


def backlog_figures(session: Session) -> dict[str, Any]:
    """The backlog of background work, as the overview shows it (and /metrics exports)."""
    pushes = wechat.push_backlog(session, BACKLOG_MINUTES)
    notices = reach.notice_backlog(session, BACKLOG_MINUTES)
    refunds = pay.refunds_last_minutes(session, BACKLOG_MINUTES)
    age = pushes.oldest_age_seconds or 0.0
    return {
        "lanes": lane_depths(),
        "pushes": pushes,
        "notices": notices,
        "per_minute": {
            "pushes": pushes.processed_last_minutes / BACKLOG_MINUTES,
            "notices": notices.sent_last_minutes / BACKLOG_MINUTES,
            "refunds": refunds / BACKLOG_MINUTES,
        },
        "push_warning": age > PUSH_BACKLOG_WARNING_SECONDS,
        "push_minutes": int(age // 60),
    }


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
        backlog = backlog_figures(session)
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
    per_minute = backlog["per_minute"]
    backlog["chart"] = {  # console.js draws "bars": one bar per kind of work
        "kind": "bars",
        "categories": [
            tr("overview.backlog.pushes"),
            tr("overview.backlog.notices"),
            tr("overview.backlog.refunds"),
        ],
        "values": [per_minute["pushes"], per_minute["notices"], per_minute["refunds"]],
        "label": tr("overview.backlog.per_minute", minutes=BACKLOG_MINUTES),
    }
    return render(
        request,
        "overview.html",
        {"active": "overview", "o": figures, "chart": chart, "backlog": backlog},
    )


@router.get("/set-aside")
def set_aside_page(request: Request, principal: AppsReader, db: DatabaseDep) -> Response:
    """Pushes set aside after their tries and UnionIDs WeChat did not give, with their error."""
    with db.session_scope() as session:
        work = wechat.set_aside_work(session, principal.workspace_id)
    return render(request, "set_aside.html", {"active": "set_aside", "work": work})


@router.post("/set-aside/pushes/retry")
def retry_pushes(
    request: Request,
    principal: AppsManager,
    db: DatabaseDep,
    push_id: Annotated[list[Id], Form(min_length=1)],
) -> Response:
    """Queue the chosen pushes again (a second click queues nothing more)."""
    with db.session_scope() as session:
        wechat.retry_pushes(session, principal, push_id)
    return RedirectResponse("/set-aside", status_code=303)


@router.post("/set-aside/unionids/{fetch_id}/retry")
def retry_unionid(
    request: Request, fetch_id: Id, principal: AppsManager, db: DatabaseDep
) -> Response:
    with db.session_scope() as session:
        wechat.retry_unionid(session, principal, fetch_id)
    return RedirectResponse("/set-aside", status_code=303)
