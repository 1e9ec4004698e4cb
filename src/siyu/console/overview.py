"""Console overview: the workspace's figures for roles that read analytics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.identity import service as identity
from siyu.security.auth import SignedIn
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.security.service import allows

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


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
