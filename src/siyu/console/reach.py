"""Console pages of reach: the send log (why each notice went where, or did not), notices to a
segment (broadcasts) with pause/resume, and the sending policy."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import Field
from starlette.responses import Response

from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, error_response, render, translator
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.reach import errors, service
from siyu.reach.enums import SendStatus
from siyu.reach.schemas import BroadcastCreate
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.reach_read)]
Sender = Annotated[Principal, require(Permission.reach_send)]
Manager = Annotated[Principal, require(Permission.reach_manage)]
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")
EXPORT_BATCH = 500


def outcome_label(tr: Translator, outcome: str) -> str:
    """An outcome of the summary ("sent", "held: quiet_hours") as operators read it."""
    status, _, reason = outcome.partition(": ")
    shown = tr.label("reach.status", status)
    if not reason:
        return shown
    return tr("reach.outcome", status=shown, reason=tr.label("reach.reason", reason))


def _reach_context(
    request: Request, db: Database, principal: Principal, status: str
) -> dict[str, Any]:
    tr = translator(request)
    wanted = SendStatus(status) if status in set(SendStatus) else None
    with db.session_scope() as session:
        ws = principal.workspace_id
        sends = service.list_sends(session, ws, status=wanted, limit=100)
        summary = service.outcome_summary(session, ws)
        policy = service.get_policy(session, ws)
        context = {
            "active": "reach",
            "sends": sends,
            "status": status,
            "statuses": [s.value for s in SendStatus],
            "broadcasts": service.list_broadcasts(session, ws),
            "templates": service.list_templates(session, ws),
            "policy_json": json.dumps(policy.model_dump(mode="json"), ensure_ascii=False, indent=2),
            "apps": {a.id: a.name for a in workspaces.list_apps(session, ws)},
            "oa_apps": [
                a
                for a in workspaces.list_apps(session, ws)
                if a.kind in (AppKind.oa_service, AppKind.oa_subscription)
            ],
            "chart": {
                "kind": "bars",
                "categories": [outcome_label(tr, label) for label, _ in summary],
                "values": [count for _, count in summary],
                "label": tr("reach.chart_series"),
            },
        }
    return context


@router.get("/reach")
def reach_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    return render(request, "reach.html", _reach_context(request, db, principal, status))


def _data_lines(text: str) -> dict[str, str]:
    """`name=value` lines (what operators type) into the notice's data."""
    data: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise errors.INVALID_DATA(
                f"write each value as name=value: {line[:40]!r}",
                reason=f"每行写成 名称=值：{line[:40]}",
            )
        data[name.strip()] = value.strip()
    return data


class _BroadcastForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "name": "reach.field.name",
        "template_key": "reach.field.template",
        "data": "reach.field.data",
        "category": "reach.field.category",
        "urgency": "reach.field.urgency",
        "tag": "reach.field.tag",
        "per_minute": "reach.field.per_minute",
        "following_appid": "reach.field.account",
        "mass_appid": "reach.field.account",
        "mass_text": "reach.field.mass_text",
    }
    refused_as: ClassVar[ErrorCode] = errors.INVALID_BROADCAST


class NoticeForm(_BroadcastForm):
    """A notice to a segment: everyone with a tag (and/or following an OA)."""

    name: str = Field(default="", max_length=100)
    template_key: str = Field(default="", max_length=64)
    data: str = Field(default="", max_length=4000)
    category: str = Field(default="activity", max_length=32)
    urgency: str = Field(default="normal", max_length=16)
    tag: str = Field(default="", max_length=30)
    following_appid: str = Field(default="", max_length=32)
    per_minute: int = Field(default=600, ge=1, le=100_000)

    def to_create(self, tr: Translator) -> BroadcastCreate:
        return self.build(
            BroadcastCreate,
            tr,
            name=self.name.strip() or self.template_key,
            template_key=self.template_key,
            data=_data_lines(self.data),
            category=self.category,
            urgency=self.urgency,
            tag=self.tag.strip() or None,
            following_appid=self.following_appid.strip() or None,
            per_minute=self.per_minute,
        )


class MassForm(_BroadcastForm):
    """An OA mass broadcast."""

    name: str = Field(default="", max_length=100)
    mass_appid: str = Field(default="", max_length=32)
    mass_text: str = Field(default="", max_length=2000)
    tag: str = Field(default="", max_length=30)

    def to_create(self, tr: Translator) -> BroadcastCreate:
        return self.build(
            BroadcastCreate,
            tr,
            name=self.name.strip() or "群发",
            mass_appid=self.mass_appid,
            mass_text=self.mass_text.strip() or None,
            tag=self.tag.strip() or None,
        )


@router.post("/reach/broadcasts")
def create_broadcast(
    request: Request, principal: Sender, db: DatabaseDep, posted: Posted
) -> Response:
    """Send a notice to a segment: everyone with a tag (and/or following an OA)."""
    tr = translator(request)
    try:
        body = parse_form(posted, NoticeForm, tr).to_create(tr)
        with db.session_scope() as session:
            service.create_broadcast(session, principal.workspace_id, body, principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#broadcast-msg")
    return RedirectResponse("/reach", status_code=303)


@router.post("/reach/mass")
def create_mass_broadcast(
    request: Request, principal: Sender, db: DatabaseDep, posted: Posted
) -> Response:
    """An OA mass broadcast: a service account's followers (by tag, at most four a month each),
    or all of a subscription account's followers (once a day)."""
    tr = translator(request)
    try:
        body = parse_form(posted, MassForm, tr).to_create(tr)
        with db.session_scope() as session:
            service.create_broadcast(session, principal.workspace_id, body, principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#mass-msg")
    return RedirectResponse("/reach", status_code=303)


@router.post("/reach/broadcasts/{broadcast_id}/pause")
def pause_broadcast(
    request: Request, broadcast_id: Id, principal: Sender, db: DatabaseDep
) -> Response:
    return _pause(request, db, principal, broadcast_id, pause=True)


@router.post("/reach/broadcasts/{broadcast_id}/resume")
def resume_broadcast(
    request: Request, broadcast_id: Id, principal: Sender, db: DatabaseDep
) -> Response:
    return _pause(request, db, principal, broadcast_id, pause=False)


def _pause(
    request: Request, db: Database, principal: Principal, broadcast_id: int, *, pause: bool
) -> Response:
    try:
        with db.session_scope() as session:
            service.pause_broadcast(
                session, principal.workspace_id, broadcast_id, principal, pause=pause
            )
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/reach", status_code=303)


@router.post("/reach/policy")
def set_policy(
    request: Request,
    principal: Manager,
    db: DatabaseDep,
    policy: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The policy as JSON: channel order by urgency, holds, quiet hours, caps, consent."""
    try:
        rules = json.loads(policy) if policy.strip() else {}
        if not isinstance(rules, dict):
            raise errors.INVALID_POLICY(
                "the policy is a JSON object", reason="策略应是一个 JSON 对象。"
            )
        with db.session_scope() as session:
            service.set_policy(session, principal.workspace_id, rules, principal)
    except json.JSONDecodeError as exc:
        problem = errors.INVALID_POLICY(
            f"not JSON: {exc.msg} (line {exc.lineno})",
            reason=f"不是合法的 JSON（第 {exc.lineno} 行）。",
        )
        return error_response(request, problem, target="#policy-msg")
    except SiyuError as exc:
        return error_response(request, exc, target="#policy-msg")
    return RedirectResponse("/reach", status_code=303)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


@router.get("/reach/sends.csv")
def export_sends(principal: Reader, db: DatabaseDep) -> Response:
    """The send log as CSV, streamed in batches (one short transaction per batch)."""
    with db.session_scope() as session:
        service.record_sends_export(session, principal)
    columns = [
        "id",
        "created_utc",
        "member_id",
        "template",
        "category",
        "urgency",
        "status",
        "channel",
        "reason",
        "errcode",
        "attempts",
        "broadcast_id",
        "sent_utc",
    ]

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        yield "\ufeff" + buffer.getvalue()  # a BOM, so that Excel reads the UTF-8 as such
        before: int | None = None
        while True:
            with db.session_scope() as session:
                page = service.sends_page(session, principal.workspace_id, before, EXPORT_BATCH)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for s in page:
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            s.id,
                            s.created_at.isoformat(),
                            s.member_id,
                            s.template_key,
                            s.category,
                            s.urgency,
                            s.status,
                            s.channel,
                            s.reason,
                            s.errcode,
                            s.attempts,
                            s.broadcast_id,
                            s.sent_at.isoformat() if s.sent_at else "",
                        )
                    ]
                )
            yield buffer.getvalue()
            if len(page) < EXPORT_BATCH:
                return
            before = page[-1].id

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="siyu-sends.csv"',
            "Cache-Control": "no-store",
        },
    )
