"""`siyu notify`: send a notice by intent, as reach decides for any other sender."""

from __future__ import annotations

import json
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


def notify(
    number: Annotated[int, typer.Argument(help="the member number (学号)")],
    template_key: Annotated[str, typer.Argument(help="the notice's template key")],
    data: Annotated[str, typer.Option("--data", help='the values as JSON: {"course": "晨读"}')],
    category: Annotated[str, typer.Option(help="transaction, service, activity…")] = "service",
    urgency: Annotated[str, typer.Option(help="urgent, normal or low")] = "normal",
    dedupe_key: Annotated[str | None, typer.Option("--dedupe-key")] = None,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Send a notice by intent: print the channel chosen, or why it was held or dropped."""
    from siyu.identity import service as identity
    from siyu.reach import errors, service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.reach_send)
    try:
        values = json.loads(data)
    except ValueError as exc:
        problem = errors.INVALID_DATA(f"--data is not JSON ({exc})", reason="--data 不是 JSON。")
        raise fail(problem) from exc
    if not isinstance(values, dict) or urgency not in ("urgent", "normal", "low"):
        raise fail(
            errors.INVALID_DATA(
                "--data is a JSON object; urgency urgent|normal|low",
                reason="--data 应是 JSON 对象；紧急程度为 urgent、normal 或 low。",
            )
        )
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            intent = service.Intent(
                member_id=member.id,
                template_key=template_key,
                data={str(k): str(v) for k, v in values.items()},
                category=category,
                urgency=urgency,
                dedupe_key=dedupe_key,
            )
            sent = service.notify(session, workspace_id, intent, principal)
    except SiyuError as exc:
        raise fail(exc) from exc
    if sent.channel:
        out.print(f"send {sent.id}: {sent.status} via {sent.channel}")
    else:
        until = f" until {sent.hold_until.isoformat()}" if sent.hold_until else ""
        out.print(f"send {sent.id}: {sent.status} ({sent.reason}){until}")
        if sent.status == "dropped":
            raise typer.Exit(3)
