"""Console pages of auto-replies: the rules of each app, a new rule (text or the Mini Program's
hand-off to an OA), and the tester that says which rule a message hits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from siyu.autoreply import errors as autoreply_errors
from siyu.autoreply import service as autoreply
from siyu.autoreply.schemas import ReplyIn, RuleCreate
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.entries import service as entries
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
RuleManager = Annotated[Principal, require(Permission.autoreply_manage)]


def _rules_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        apps = workspaces.list_apps(session, ws)
        return {
            "active": "autoreplies",
            "rules": autoreply.list_rules(session, ws),
            "apps": apps,
            "channels": [c for c in entries.list_channels(session, ws) if c.status == "active"],
            "app_names": {a.id: a.name for a in apps},
            "message": "",
            "tested": False,
        }


@router.get("/autoreplies")
def autoreplies_page(request: Request, principal: RuleManager, db: DatabaseDep) -> Response:
    return render(request, "autoreplies.html", _rules_context(db, principal))


@router.post("/autoreplies")
def add_rule(
    request: Request,
    principal: RuleManager,
    db: DatabaseDep,
    appid: Annotated[str, Form(max_length=32)] = "",
    kind: Annotated[str, Form(max_length=16)] = "keyword",
    match: Annotated[str, Form(max_length=16)] = "exact",
    keywords: Annotated[str, Form(max_length=2000)] = "",
    priority: Annotated[int, Form(ge=0, le=10_000)] = 100,
    reply_text: Annotated[str, Form(max_length=2000)] = "",
    tag: Annotated[str, Form(max_length=30)] = "",
    handoff_channel: Annotated[int, Form(ge=0, le=2**62)] = 0,
) -> Response:
    """A text reply rule, or a hand-off (the text as its card's title); others through the API."""
    try:
        reply = (
            ReplyIn(type="handoff", channel_id=handoff_channel, title=reply_text.strip()[:64])
            if handoff_channel
            else ReplyIn(type="text", content=reply_text)
        )
        body = RuleCreate(
            appid=appid,
            kind=kind,
            match=match,
            keywords=[k for k in keywords.splitlines() if k.strip()],
            priority=priority,
            reply=reply,
            tag=tag.strip() or None,
        )
        with db.session_scope() as session:
            autoreply.add_rule(session, principal.workspace_id, body, principal)
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"])
        problem = autoreply_errors.INVALID_RULE(message, reason=message)
        return error_response(request, problem, target="#rule-msg")
    except SiyuError as exc:
        return error_response(request, exc, target="#rule-msg")
    return RedirectResponse("/autoreplies", status_code=303)


@router.post("/autoreplies/{rule_id}/delete")
def delete_rule(
    request: Request, rule_id: int, principal: RuleManager, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            autoreply.delete_rule(session, principal.workspace_id, rule_id, principal)
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/autoreplies", status_code=303)


@router.post("/autoreplies/test")
def try_rules(
    request: Request,
    principal: RuleManager,
    db: DatabaseDep,
    appid: Annotated[str, Form(max_length=32)] = "",
    message: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Which rule a message hits (nothing is sent)."""
    try:
        with db.session_scope() as session:
            result = autoreply.explain_message(session, principal.workspace_id, appid, message)
    except SiyuError as exc:
        return error_response(request, exc, target="#tester-result")
    context = {"result": result, "message": message}
    if is_htmx(request):
        return render(request, "_autoreply_test.html", context)
    return render(
        request, "autoreplies.html", {**_rules_context(db, principal), **context, "tested": True}
    )
