"""`siyu autoreply add|test`: keyword rules, and which rule a message would hit."""

from __future__ import annotations

from typing import Annotated

import typer

from siyu.cli.common import (
    AsOption,
    WorkspaceOption,
    acting,
    choose_workspace,
    fail,
    out,
    setup,
)
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission

autoreply_app = typer.Typer(help="Auto-reply rules: add and test.", no_args_is_help=True)


@autoreply_app.command("add")
def autoreply_add(
    appid: Annotated[str, typer.Argument(help="the OA or MP appid")],
    keyword: Annotated[list[str], typer.Option("--keyword", help="a keyword (repeatable)")],
    reply_text: Annotated[str, typer.Option("--reply-text", help="the text to answer")],
    match: Annotated[str, typer.Option("--match", help="exact, contains or regex")] = "exact",
    priority: Annotated[int, typer.Option(help="lower answers first")] = 100,
    tag: Annotated[str | None, typer.Option(help="tag the member on a match")] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Add a keyword rule answering with a text."""
    from pydantic import ValidationError

    from siyu.autoreply import errors, service
    from siyu.autoreply.schemas import ReplyIn, RuleCreate

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.autoreply_manage)
    try:
        body = RuleCreate(
            appid=appid,
            match=match,
            keywords=keyword,
            priority=priority,
            reply=ReplyIn(type="text", content=reply_text),
            tag=tag,
        )
        with db.session_scope() as session:
            rule = service.add_rule(session, workspace_id, body, principal)
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"])
        raise fail(errors.INVALID_RULE(message, reason=message)) from exc
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"rule {rule.id}: {rule.match} {', '.join(rule.keywords)} → {reply_text}")


@autoreply_app.command("test")
def autoreply_test(
    appid: Annotated[str, typer.Argument(help="the OA or MP appid")],
    message: Annotated[str, typer.Argument(help="what the user writes")],
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Print the rule a message hits and its reply, or that none does (exit 3)."""
    from siyu.autoreply import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    acting(db, workspace_id, as_email, Permission.autoreply_manage)
    try:
        with db.session_scope() as session:
            result = service.explain_message(session, workspace_id, appid, message)
    except SiyuError as exc:
        raise fail(exc) from exc
    if result.rule is None or result.reply is None:
        out.print("no rule matches / 没有规则命中")
        raise typer.Exit(3)
    reply = result.reply
    shown = reply.get("content") or reply.get("title") or reply.get("media_id") or ""
    out.print(f"rule {result.rule.id} ({result.rule.name}, priority {result.rule.priority})")
    out.print(f"reply {reply['type']}: {shown}")
