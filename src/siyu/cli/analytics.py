"""`siyu analytics sync` and the analytics reports under `siyu report`: the operations index,
funnels and retention, answered by the analytics store (`SIYU_ANALYTICS_URL`)."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from siyu.cli.common import AsOption, WorkspaceOption, acting, choose_workspace, fail, out, setup
from siyu.core.clock import BEIJING
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission

analytics_app = typer.Typer(help="The analytics store.", no_args_is_help=True)

FromOption = Annotated[
    str | None, typer.Option("--from", help="first Beijing day, YYYY-MM-DD (default: 30 days ago)")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="last Beijing day, YYYY-MM-DD (default: today)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]

_WINDOW = re.compile(r"^(\d{1,6})([dhms])$")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@analytics_app.command("sync")
def sync() -> None:
    """Load what is new in the timeline into the store; print how many events it took."""
    from siyu.analytics import service as analytics

    settings, db = setup()
    with db.session_scope() as session:
        result = analytics.sync_store(session, analytics.store(settings))
    out.print(
        f"{result.events} events / 事件; {result.refreshed_members} members refreshed / 会员刷新"
        + ("; store rewritten / 已重写" if result.compacted else "")
    )


def _days(start: str | None, end: str | None) -> tuple[date, date]:
    today = datetime.now(BEIJING).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=29)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {exc}") from exc
    return first, last


def _window(text: str) -> int:
    match = _WINDOW.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"window {text!r}: a number and d, h, m or s, e.g. 7d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _step(text: str) -> dict[str, object]:
    """EVENT or EVENT:key=value,key=value."""
    event, _, rest = text.partition(":")
    filters: dict[str, str] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"step {text!r}: filters are key=value")
        filters[key.strip()] = value.strip()
    return {"event": event.strip(), "filters": filters}


def report_index(
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """运营指数 by Beijing day: new members, DAU/WAU/MAU by app, dwell, menu clicks."""
    from siyu.analytics import service as analytics

    settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    actor = acting(db, workspace_id, as_email, Permission.analytics_read)
    first, last = _days(start, end)
    try:
        report = analytics.operations_index(
            analytics.store(settings), workspace_id, first, last, actor=actor
        )
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"运营指数 {first} – {last}")
    for col in ("日期", "新增", "DAU", "公众号", "小程序", "两者", "WAU", "MAU", "DAU/MAU"):
        table.add_column(col, justify="right")
    for d in report.days:
        cells = (d.new, d.dau, d.dau_oa, d.dau_mp, d.dau_both, d.wau, d.mau, d.dau_mau)
        table.add_row(str(d.date), *("—" if v is None else str(v) for v in cells))
    out.print(table)


def report_funnel(
    step: Annotated[
        list[str], typer.Option("--step", help="EVENT or EVENT:key=value,…; 2 to 20, in order")
    ],
    window: Annotated[str, typer.Option(help="conversion window from step 1, e.g. 7d, 12h")] = "7d",
    order: Annotated[str, typer.Option(help="ordered or any")] = "ordered",
    breakdown: Annotated[str, typer.Option(help="none, channel or app")] = "none",
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Members at each step of a funnel."""
    from pydantic import ValidationError

    from siyu.analytics import service as analytics
    from siyu.analytics.schemas import FunnelQuery

    settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    actor = acting(db, workspace_id, as_email, Permission.analytics_read)
    first, last = _days(start, end)
    try:
        query = FunnelQuery.model_validate(
            {
                "steps": [_step(s) for s in step],
                "window_s": _window(window),
                "order": order,
                "breakdown": breakdown,
                "start": first,
                "end": last,
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        report = analytics.funnel(analytics.store(settings), workspace_id, query, actor=actor)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"漏斗 {first} – {last}, {window}")
    for col in ("步骤", "事件", "会员", "转化", "平均用时（秒）"):
        table.add_column(col)
    for i, s in enumerate(report.steps, 1):
        table.add_row(
            str(i),
            s.event,
            "—" if s.members is None else str(s.members),
            "—" if s.conversion is None else f"{s.conversion:.1%}",
            "—" if s.avg_seconds_from_previous is None else f"{s.avg_seconds_from_previous:.0f}",
        )
    out.print(table)


def report_retention(
    cohort_event: Annotated[str, typer.Option(help="the event that puts a member in a cohort")],
    return_event: Annotated[str, typer.Option(help="the event that counts as coming back")],
    period: Annotated[str, typer.Option(help="day, week or month")] = "week",
    periods: Annotated[int, typer.Option(min=1, max=36)] = 8,
    cohort_by: Annotated[str, typer.Option(help="start or channel")] = "start",
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Cohorts and how many came back, period by period."""
    from pydantic import ValidationError

    from siyu.analytics import service as analytics
    from siyu.analytics.schemas import RetentionQuery

    settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    actor = acting(db, workspace_id, as_email, Permission.analytics_read)
    first, last = _days(start, end)
    try:
        query = RetentionQuery.model_validate(
            {
                "cohort_event": cohort_event,
                "return_event": return_event,
                "period": period,
                "periods": periods,
                "cohort_by": cohort_by,
                "start": first,
                "end": last,
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        report = analytics.retention(analytics.store(settings), workspace_id, query, actor=actor)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"留存 {cohort_event} → {return_event}（{period}）")
    table.add_column("同期群")
    table.add_column("人数", justify="right")
    for i in range(periods):
        table.add_column(str(i), justify="right")
    for c in report.cohorts:
        table.add_row(
            c.start,
            "—" if c.size is None else str(c.size),
            *("—" if n is None else str(n) for n in c.returned),
        )
    out.print(table)
