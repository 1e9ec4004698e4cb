"""`siyu coupons create|issue|redeem|report`: coupon templates, staff issue, a till's
redemption, the per-template report (each with `--json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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

coupons_app = typer.Typer(help="Coupons: templates, issue, redeem, report.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


@coupons_app.command("create")
def coupons_create(
    file: Annotated[Path, typer.Argument(help="the template as JSON (the API's body)")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Create a coupon template from a JSON file."""
    from pydantic import ValidationError

    from siyu.members import errors, service
    from siyu.members.schemas import TemplateCreate

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.coupons_manage)
    try:
        body = TemplateCreate.model_validate(json.loads(file.read_text(encoding="utf-8")))
        with db.session_scope() as session:
            template = service.create_template(session, workspace_id, body, actor=principal)
    except (ValidationError, ValueError, OSError) as exc:
        problem = (
            str(exc.errors()[0]["msg"]) if isinstance(exc, ValidationError) else str(exc)[:200]
        )
        raise fail(errors.INVALID_TEMPLATE(problem, reason=problem)) from exc
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(template.model_dump_json(indent=2))
        return
    out.print(f"template {template.id}: {template.name} ({template.kind}), stock {template.stock}")


@coupons_app.command("issue")
def coupons_issue(
    template_id: Annotated[int, typer.Argument(help="the template's id", min=1)],
    number: Annotated[int, typer.Argument(help="the member number (学号)", min=1)],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Issue one coupon of a template to a member; a refusal exits 1 with its code."""
    from siyu.members import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.coupons_manage)
    try:
        with db.session_scope() as session:
            result = service.issue_by_staff(
                session, workspace_id, template_id, [number], actor=principal
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    if result.refused:
        code = result.refused[0].code
        if not as_json:
            out.print(f"[red]{code}[/red]: member {number} was not issued a coupon")
        raise typer.Exit(1)
    if not as_json:
        coupon = result.issued[0]
        out.print(f"coupon {coupon.code} → member {number}, valid until {coupon.valid_until:%F}")


@coupons_app.command("redeem")
def coupons_redeem(
    code: Annotated[str, typer.Argument(help="the coupon's code")],
    member: Annotated[int, typer.Option("--member", help="the member number", min=1)],
    order: Annotated[str, typer.Option("--order", help="the order id")],
    amount: Annotated[int, typer.Option("--amount", help="the order's amount in fen", min=1)],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Redeem a coupon on an order (the same order again answers the same)."""
    from pydantic import ValidationError

    from siyu.members import errors, service
    from siyu.members.schemas import RedeemIn

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.coupons_redeem)
    try:
        body = RedeemIn(code=code, member=member, order_id=order, amount_fen=amount)
    except ValidationError as exc:
        raise fail(errors.COUPON_NOT_FOUND(str(exc.errors()[0]["msg"]))) from exc
    try:
        with db.session_scope() as session:
            answer = service.redeem(session, workspace_id, body, actor=principal)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
        return
    gift = f", gift: {answer.gift_name}" if answer.gift_name else ""
    out.print(
        f"order {answer.order_id}: {_yuan(answer.discount)} off, pay {_yuan(answer.payable)}{gift}"
    )


@coupons_app.command("report")
def coupons_report(
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Per template: issued, claimed, redeemed, expired, redemption rate, amount discounted."""
    from siyu.members import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    acting(db, workspace_id, as_email, Permission.coupons_read)
    with db.session_scope() as session:
        reports = service.template_reports(session, workspace_id)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in reports], ensure_ascii=False))
        return
    table = Table("id", "template", "stock", "issued", "claimed", "redeemed", "expired", "rate",
                  "discounted")  # fmt: skip
    for r in reports:
        table.add_row(
            str(r.template_id), r.name, str(r.stock), str(r.issued), str(r.claimed),
            str(r.redeemed), str(r.expired), f"{r.redemption_rate:.1%}", _yuan(r.discounted),
        )  # fmt: skip
    out.print(table)
