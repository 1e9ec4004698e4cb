"""`siyu report activity`: the review (复盘) of a campaign."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, fail, out, setup
from siyu.core.errors import SiyuError
from siyu.core.money import format_yuan
from siyu.security.enums import Permission

report_app = typer.Typer(help="Reviews (复盘) of campaigns.", no_args_is_help=True)


@report_app.command("activity")
def report_activity(
    code: Annotated[str, typer.Argument(help="the activity's code")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    previous: Annotated[
        str | None, typer.Option(help="compare with this activity (default: the series' last)")
    ] = None,
    active_after_days: Annotated[int, typer.Option(min=0, max=365)] = 7,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """The review (复盘) of an activity: enrollments, money, check-ins, completion, retention."""
    from siyu.community import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    acting(db, workspace_id, as_email, Permission.community_read)
    try:
        with db.session_scope() as session:
            result = service.activity_review(
                session,
                workspace_id,
                code,
                previous=previous,
                active_after_days=active_after_days,
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"{result.code} {result.title} ({result.starts_on} – {result.ends_on})")
    table.add_column("指标 metric")
    table.add_column("值 value", justify="right")
    rows = [
        ("报名 enrollments", str(result.enrollments)),
        ("渠道 by channel", ", ".join(f"{k} {v}" for k, v in result.by_channel.items())),
        ("收款 paid (¥)", format_yuan(result.paid_total)),
        ("退款 refunded (¥)", format_yuan(result.refunded_total)),
        ("完成 completed", f"{result.completed} ({result.completion_rate:.0%})"),
        (f"{result.active_after_days} 天后活跃 active after", str(result.active_after)),
        ("群内 in group", str(result.group_members)),
    ]
    if result.retention is not None:
        r = result.retention
        rows += [
            (f"来自 from {r.previous}", f"{r.re_enrolled} ({r.re_enrollment_rate:.0%})"),
            ("留存未报名 stayed", f"{r.stayed} (群 group {r.stayed_in_group})"),
            ("流失 lost", str(r.lost)),
        ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
