"""`siyu points balance|grant`: a member's points, and a staff grant or deduction (a reason
is required; audited as the acting operator)."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, fail, out, setup
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission

points_app = typer.Typer(help="Members' points: balance and grants.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


@points_app.command("balance")
def points_balance(
    number: Annotated[int, typer.Argument(help="the member number", min=1, max=2**31 - 1)],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """A member's balance, growth value and level."""
    from siyu.identity import service as identity
    from siyu.members import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.points_read)
    try:
        with db.session_scope() as session:
            member = identity.get_member_by_number(session, workspace_id, number)
            identity.ensure_member_visible(session, principal, member.id)
            read = service.balance_of(session, workspace_id, member.id).model_copy(
                update={"member_number": number}
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    level = read.level_name or "无等级"
    out.print(f"member {number}: {read.balance} points, growth {read.growth}, level {level}")
    if read.expiring_soon:
        out.print(f"  {read.expiring_soon} expire by {read.expiring_at:%Y-%m-%d %H:%M} UTC")


@points_app.command("grant")
def points_grant(
    number: Annotated[int, typer.Argument(help="the member number", min=1, max=2**31 - 1)],
    amount: Annotated[int, typer.Argument(help="points; negative deducts")],
    reason: Annotated[str, typer.Option("--reason", help="why (required, audited)")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Grant (or, with a negative amount, deduct) a member's points, with a reason."""
    from pydantic import ValidationError

    from siyu.members import errors, service
    from siyu.members.schemas import AdjustIn

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.points_adjust)
    try:
        body = AdjustIn(member_number=number, amount=amount, reason=reason)
    except ValidationError as exc:
        problem = str(exc.errors()[0]["msg"])
        fault = errors.REASON_REQUIRED if "reason" in str(exc) else errors.INVALID_AMOUNT
        raise fail(fault(problem)) from exc
    try:
        with db.session_scope() as session:
            entry = service.adjust_by_number(session, principal, body, secrets.token_hex(12))
            balance = service.balance_of(session, workspace_id, entry.member_id).balance
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(entry.model_copy().model_dump_json(indent=2))
        return
    out.print(f"member {number}: {entry.amount:+d} points ({entry.reason}); balance {balance}")
