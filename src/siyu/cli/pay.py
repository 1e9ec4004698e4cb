"""`siyu pay reconcile|sweep`: WeChat Pay's daily reconciliation and the order/refund sweep."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from siyu.cli.common import err, fail, out, setup
from siyu.core.errors import SiyuError

pay_app = typer.Typer(
    help="WeChat Pay: reconciliation and the order/refund sweep.", no_args_is_help=True
)


@pay_app.command("reconcile")
def pay_reconcile(
    day: Annotated[
        str | None, typer.Option("--date", help="the Beijing date (YYYY-MM-DD); default yesterday")
    ] = None,
) -> None:
    """Compare siyu's payments and refunds of a day with each merchant's trade bill."""
    from datetime import date, timedelta

    from siyu.core import clock
    from siyu.wechat.pay import service as pay

    _settings, db = setup()
    try:
        wanted = (
            date.fromisoformat(day)
            if day
            else (clock.now().astimezone(clock.BEIJING) - timedelta(days=1)).date()
        )
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    with db.session_scope() as session:
        merchants = pay.list_merchants(session)
    if not merchants:
        err.print("[yellow]no WeChat Pay merchant is configured[/yellow]")
        raise typer.Exit(1)
    differing = 0
    for merchant in merchants:
        try:
            result = pay.reconcile_day(db, pay.clients(), merchant.id, wanted)
        except SiyuError as exc:
            raise fail(exc) from exc
        table = Table(f"{merchant.mchid} {wanted}", "number", "problem", "siyu", "merchant")
        for diff in result.differences:
            table.add_row(
                diff["kind"],
                diff["number"],
                diff["problem"],
                str(diff["siyu"]),
                str(diff["merchant"]),
            )
        out.print(
            f"{merchant.mchid}: {result.payments} payments, {result.refunds} refunds in the bill; "
            f"{len(result.differences)} differences"
        )
        if result.differences:
            out.print(table)
        differing += len(result.differences)
    if differing:
        raise typer.Exit(3)


@pay_app.command("sweep")
def pay_sweep() -> None:
    """Query late orders and refunds now and resend due refunds (the job does it every minute)."""
    from siyu.wechat.pay import service as pay

    _settings, db = setup()
    done = pay.sweep(db, pay.clients())
    out.print(", ".join(f"{k}={v}" for k, v in vars(done).items()))
