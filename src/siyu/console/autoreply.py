"""Console pages of auto-replies: the rules of each app, a new rule (text or the Mini Program's
hand-off to an OA), and the tester that says which rule a message hits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from starlette.responses import Response

from siyu.autoreply import errors as autoreply_errors
from siyu.autoreply import service as autoreply
from siyu.autoreply.schemas import ReplyIn, RuleCreate
from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
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


class RuleForm(ConsoleForm):
    """A text reply rule, or a hand-off (the text as its card's title); others through the API."""

    labels: ClassVar[Mapping[str, str]] = {
        "appid": "autoreply.field.app",
        "kind": "autoreply.col.kind",
        "match": "autoreply.field.match",
        "keywords": "autoreply.field.keywords",
        "priority": "autoreply.field.priority",
        "reply_text": "autoreply.field.reply_text",
        "tag": "autoreply.field.tag",
        "handoff_channel": "autoreply.field.handoff",
    }
    refused_as: ClassVar[ErrorCode] = autoreply_errors.INVALID_RULE
    # The reply is made of the text (its content, or the hand-off card's title) and the channel.
    fields_of: ClassVar[Mapping[str, str]] = {
        "reply": "reply_text",
        "type": "reply_text",
        "content": "reply_text",
        "title": "reply_text",
        "channel_id": "handoff_channel",
    }

    appid: str = Field(default="", max_length=32)
    kind: str = Field(default="keyword", max_length=16)
    match: str = Field(default="exact", max_length=16)
    keywords: str = Field(default="", max_length=2000)
    priority: int = Field(default=100, ge=0, le=10_000)
    reply_text: str = Field(default="", max_length=2000)
    tag: str = Field(default="", max_length=30)
    handoff_channel: int = Field(default=0, ge=0, le=2**62)

    def to_create(self, tr: Translator) -> RuleCreate:
        reply = (
            self.build(
                ReplyIn,
                tr,
                type="handoff",
                channel_id=self.handoff_channel,
                title=self.reply_text.strip()[:64],
            )
            if self.handoff_channel
            else self.build(ReplyIn, tr, type="text", content=self.reply_text)
        )
        return self.build(
            RuleCreate,
            tr,
            appid=self.appid,
            kind=self.kind,
            match=self.match,
            keywords=[k for k in self.keywords.splitlines() if k.strip()],
            priority=self.priority,
            reply=reply,
            tag=self.tag.strip() or None,
        )


@router.post("/autoreplies")
def add_rule(request: Request, principal: RuleManager, db: DatabaseDep, posted: Posted) -> Response:
    """A text reply rule, or a hand-off (the text as its card's title); others through the API."""
    tr = translator(request)
    try:
        body = parse_form(posted, RuleForm, tr).to_create(tr)
        with db.session_scope() as session:
            autoreply.add_rule(session, principal.workspace_id, body, principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#rule-msg")
    return RedirectResponse("/autoreplies", status_code=303)


@router.post("/autoreplies/{rule_id}/delete")
def delete_rule(request: Request, rule_id: Id, principal: RuleManager, db: DatabaseDep) -> Response:
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
