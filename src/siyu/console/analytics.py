"""数据: the operations index, a funnel and a retention grid from the analytics store, each
chart an ECharts option built here (PNG from its toolbox) and each table downloadable as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from siyu.analytics import service as analytics
from siyu.analytics.schemas import FunnelQuery, RetentionQuery
from siyu.console.forms import ConsoleForm, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, render, translator
from siyu.core.clock import BEIJING
from siyu.core.errors import SiyuError
from siyu.core.http import SettingsDep
from siyu.identity.schemas import CANONICAL_EVENTS
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Analyst = Annotated[Principal, require(Permission.analytics_read)]

EVENTS = sorted(CANONICAL_EVENTS)
HEAT_COLORS = ["#f0f5ff", "#3370ff"]


class RangeForm(ConsoleForm):
    messages = "analytics.invalid"
    start: date | None = Field(default=None, validation_alias="from")
    end: date | None = Field(default=None, validation_alias="to")
    format: Literal["html", "csv"] = "html"

    def days(self) -> tuple[date, date]:
        last = self.end or datetime.now(BEIJING).date()
        return self.start or last - timedelta(days=29), last


class FunnelForm(RangeForm):
    steps: str = Field(default="mp.launch\nmp.page_view\noa.subscribe\npay.paid", max_length=4000)
    window_days: int = Field(default=7, ge=1, le=90)
    order: Literal["ordered", "any"] = "ordered"
    breakdown: Literal["none", "channel", "app"] = "none"


class RetentionForm(RangeForm):
    cohort_event: str = Field(default="mp.launch", max_length=64)
    return_event: str = Field(default="mp.launch", max_length=64)
    period: Literal["day", "week", "month"] = "week"
    periods: int = Field(default=8, ge=1, le=36)
    cohort_by: Literal["start", "channel"] = "start"


def _toolbox() -> dict[str, Any]:
    return {"feature": {"saveAsImage": {"title": "PNG"}}}


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _page(request: Request, tab: str, context: dict[str, Any]) -> Response:
    query = "&".join(
        f"{quote(k)}={quote(v)}" for k, v in request.query_params.multi_items() if k != "format"
    )
    return render(
        request,
        "analytics.html",
        {
            "active": "analytics",
            "tab": tab,
            "events": EVENTS,
            "request_query": query,
            "error": None,
            **context,
        },
    )


def _refused(request: Request, tab: str, form: Any, exc: SiyuError) -> Response:
    tr = translator(request)
    return _page(request, tab, {"form": form, "error": tr.refusal(exc), "report": None})


@router.get("/analytics")
def index_page(request: Request, principal: Analyst, settings: SettingsDep) -> Response:
    """运营指数."""
    tr = translator(request)
    form: RangeForm | None = None
    try:
        form = parse_form(request.query_params, RangeForm, tr)
        start, end = form.days()
        report = analytics.operations_index(
            analytics.store(settings), principal.workspace_id, start, end, actor=principal
        )
    except SiyuError as exc:
        return _refused(request, "index", form, exc)
    keys = ["new", "dau", "dau_oa", "dau_mp", "dau_both", "wau", "mau", "dau_mau"]
    keys += ["dwell_s_per_mp_visitor", "menu_clicks_per_oa_active", "article_opens"]
    columns = ["date", *keys[:8], "dwell", "menu", "article"]
    header = [tr(f"analytics.col.{c}") for c in columns]
    rows = [[str(d.date), *(getattr(d, k) for k in keys)] for d in report.days]
    if form.format == "csv":
        return _csv(f"index-{start}-{end}", header, rows)
    return _page(
        request,
        "index",
        {
            "form": form,
            "report": report,
            "header": header,
            "rows": rows,
            "how": {d.key: d.how for d in report.definitions},
            "charts": {
                "activity": _activity_chart(report, tr),
                "hours": _hours_chart(report, tr),
                "periods": _periods_chart(report, tr),
            },
        },
    )


def _activity_chart(report: Any, tr: Translator) -> dict[str, Any]:
    days = [str(d.date)[5:] for d in report.days]
    series = [
        ("dau", "line"),
        ("wau", "line"),
        ("mau", "line"),
        ("new", "bar"),
    ]
    return {
        "option": {
            "toolbox": _toolbox(),
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "data": [tr(f"analytics.col.{k}") for k, _ in series]},
            "grid": {"left": 48, "right": 24, "top": 40, "bottom": 28},
            "xAxis": {"type": "category", "data": days},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "name": tr(f"analytics.col.{k}"),
                    "type": kind,
                    "data": [getattr(d, k) for d in report.days],
                }
                for k, kind in series
            ],
        }
    }


def _heatmap(x: list[str], y: list[str], cells: list[list[Any]], top: int | None) -> dict[str, Any]:
    return {
        "option": {
            "toolbox": _toolbox(),
            "tooltip": {"position": "top"},
            "grid": {"left": 80, "right": 24, "top": 16, "bottom": 64},
            "xAxis": {"type": "category", "data": x, "splitArea": {"show": True}},
            "yAxis": {"type": "category", "data": y, "splitArea": {"show": True}},
            "visualMap": {
                "min": 0,
                "max": max(top or 0, 1),
                "calculable": True,
                "orient": "horizontal",
                "left": "center",
                "bottom": 0,
                "inRange": {"color": HEAT_COLORS},
            },
            "series": [{"type": "heatmap", "data": cells, "label": {"show": len(x) <= 24}}],
        }
    }


def _hours_chart(report: Any, tr: Translator) -> dict[str, Any]:
    weekdays = tr("analytics.weekdays").split(",")
    cells = [[c.hour, c.weekday - 1, c.events] for c in report.active_hours]
    top = max((c.events or 0 for c in report.active_hours), default=0)
    return _heatmap([str(h) for h in range(24)], weekdays, cells, top)


def _periods_chart(report: Any, tr: Translator) -> dict[str, Any]:
    return {
        "option": {
            "toolbox": _toolbox(),
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 48, "right": 24, "top": 16, "bottom": 28},
            "xAxis": {"type": "category", "data": [b.bucket for b in report.active_periods]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "name": tr("analytics.col.members"),
                    "type": "bar",
                    "data": [b.members for b in report.active_periods],
                }
            ],
        }
    }


def _steps(text: str) -> list[dict[str, Any]]:
    steps = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        event, _, rest = line.partition(":")
        filters = {}
        for pair in filter(None, rest.split(",")):
            key, _, value = pair.partition("=")
            filters[key.strip()] = value.strip()
        steps.append({"event": event.strip(), "filters": filters})
    return steps


@router.get("/analytics/funnel")
def funnel_page(request: Request, principal: Analyst, settings: SettingsDep) -> Response:
    """A funnel from the steps typed, one event a line."""
    tr = translator(request)
    form: FunnelForm | None = None
    try:
        form = parse_form(request.query_params, FunnelForm, tr)
        start, end = form.days()
        query = form.build(
            FunnelQuery,
            tr,
            steps=_steps(form.steps),
            window_s=form.window_days * 86400,
            order=form.order,
            breakdown=form.breakdown,
            start=start,
            end=end,
        )
        report = analytics.funnel(
            analytics.store(settings), principal.workspace_id, query, actor=principal
        )
    except SiyuError as exc:
        return _refused(request, "funnel", form, exc)
    header = [tr(f"analytics.col.{c}") for c in ("step", "event", "members", "conversion")]
    header.append(tr("analytics.col.avg_time"))
    rows = [
        [i, s.event, s.members, s.conversion, s.avg_seconds_from_previous]
        for i, s in enumerate(report.steps, 1)
    ]
    if form.format == "csv":
        return _csv(f"funnel-{start}-{end}", header, rows)
    labels = [f"{i}. {tr('event.' + s.event)}" for i, s in enumerate(report.steps, 1)]
    chart = {
        "option": {
            "toolbox": _toolbox(),
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 8, "right": 24, "top": 16, "bottom": 16, "containLabel": True},
            "xAxis": {"type": "value", "minInterval": 1},
            "yAxis": {"type": "category", "data": labels, "inverse": True},
            "series": [
                {
                    "name": tr("analytics.col.members"),
                    "type": "bar",
                    "data": [s.members for s in report.steps],
                }
            ],
        }
    }
    return _page(
        request,
        "funnel",
        {"form": form, "report": report, "header": header, "rows": rows, "chart": chart},
    )


@router.get("/analytics/retention")
def retention_page(request: Request, principal: Analyst, settings: SettingsDep) -> Response:
    """Cohorts and their return, as a heatmap and a grid."""
    tr = translator(request)
    form: RetentionForm | None = None
    try:
        form = parse_form(request.query_params, RetentionForm, tr)
        start, end = form.days()
        query = form.build(
            RetentionQuery,
            tr,
            cohort_event=form.cohort_event,
            return_event=form.return_event,
            period=form.period,
            periods=form.periods,
            cohort_by=form.cohort_by,
            start=start,
            end=end,
        )
        report = analytics.retention(
            analytics.store(settings), principal.workspace_id, query, actor=principal
        )
    except SiyuError as exc:
        return _refused(request, "retention", form, exc)
    header = [tr("analytics.col.cohort"), tr("analytics.col.size")]
    header += [str(i) for i in range(form.periods)]
    rows = [[c.start or tr("analytics.none"), c.size, *c.returned] for c in report.cohorts]
    if form.format == "csv":
        return _csv(f"retention-{start}-{end}", header, rows)
    cohorts = [str(r[0]) for r in rows]
    cells = [
        [i, y, round(100 * n / c.size, 1) if n is not None and c.size else None]
        for y, c in enumerate(report.cohorts)
        for i, n in enumerate(c.returned)
    ]
    chart = _heatmap([str(i) for i in range(form.periods)], cohorts, cells, 100)
    return _page(
        request,
        "retention",
        {"form": form, "report": report, "header": header, "rows": rows, "chart": chart},
    )
