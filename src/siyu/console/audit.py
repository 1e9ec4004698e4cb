"""Console audit log: filtered pages and the CSV export (itself audited)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from siyu.console import errors
from siyu.console.web import ConsoleRoute, display_zone, render
from siyu.core.config import Settings
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.params import Offset
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Auditor = Annotated[Principal, require(Permission.audit_read)]
AUDIT_PAGE = 100
AUDIT_EXPORT_MAX = 100_000
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _day_bound(value: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise errors.INVALID_DATE("dates look like 2026-11-20") from exc
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start + timedelta(days=1) if end else start


def _audit_filters(
    principal: Principal, settings: Settings, params: dict[str, str]
) -> dict[str, Any]:
    return {
        "action": params["action"] or None,
        "actor": params["actor"] or None,
        "target_type": params["target_type"] or None,
        "target_id": params["target_id"] or None,
        "since": _day_bound(params["since"], display_zone(settings), end=False),
        "until": _day_bound(params["until"], display_zone(settings), end=True),
    }


@router.get("/audit")
def audit_page(
    request: Request,
    principal: Auditor,
    db: DatabaseDep,
    settings: SettingsDep,
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=32)] = "",
    target_id: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[Offset, Query()] = 0,
) -> Response:
    params = {
        "action": action.strip(),
        "actor": actor.strip(),
        "target_type": target_type.strip(),
        "target_id": target_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    with db.session_scope() as session:
        entries = security.search_audit(
            session,
            principal.workspace_id,
            **_audit_filters(principal, settings, params),
            before_id=before or None,
            limit=AUDIT_PAGE + 1,
        )
        actions = security.audit_actions(session, principal.workspace_id)
    page, more = entries[:AUDIT_PAGE], len(entries) > AUDIT_PAGE
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if v)
    context = {
        "active": "audit",
        "entries": page,
        "more": more,
        "next_before": page[-1].id if more and page else None,
        "filters": params,
        "actions": actions,
        "query": query,
    }
    return render(request, "audit.html", context)


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet: quote it as text.
    return "'" + text if text.startswith(CSV_FORMULA) else text


@router.get("/audit.csv")
def audit_export(
    principal: Auditor,
    db: DatabaseDep,
    settings: SettingsDep,
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=32)] = "",
    target_id: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The filtered audit log as CSV (the export itself is audited)."""
    params = {
        "action": action.strip(),
        "actor": actor.strip(),
        "target_type": target_type.strip(),
        "target_id": target_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    filters = _audit_filters(principal, settings, params)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "id",
            "time_utc",
            "actor",
            "role",
            "action",
            "target_type",
            "target_id",
            "request_id",
            "detail",
        ]
    )
    with db.session_scope() as session:
        rows = security.export_audit(
            session, principal, asked=params, max_rows=AUDIT_EXPORT_MAX, **filters
        )
    for e in rows:
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    e.id,
                    e.created_at.isoformat(),
                    e.actor,
                    e.actor_role,
                    e.action,
                    e.target_type,
                    e.target_id,
                    e.request_id,
                    orjson.dumps(e.detail).decode(),
                )
            ]
        )
    return Response(
        "\ufeff" + buffer.getvalue(),  # a BOM, so that Excel reads the UTF-8 as such
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="siyu-audit.csv"',
            "Cache-Control": "no-store",
        },
    )
