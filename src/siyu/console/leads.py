"""Console pages of sales leads (线索): the pool (公海), one's own leads, all of them for a
manager (with the report per salesperson and a button to score now), and a lead's page with
the reasons it scored, its follow-ups and the forms to follow up and move it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Annotated, ClassVar, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import RedirectResponse, Response

from siyu.audience.enums import FollowUpChannel, LeadStatus
from siyu.audience.schemas import FollowUpIn, LeadMove
from siyu.audience.service import leads as service
from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.web import ConsoleRoute, error_response, render, translator
from siyu.core.clock import BEIJING
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.security.service import allows

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

Reader = Annotated[Principal, require(Permission.leads_read)]
Claimer = Annotated[Principal, require(Permission.leads_claim)]
Manager = Annotated[Principal, require(Permission.leads_manage)]
FOLLOW_UP_HOUR = time(10, 0)  # a next follow-up date means 10:00 that day, Beijing


class FollowUpForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "channel": "leads.field.channel",
        "note": "leads.field.note",
        "next_date": "leads.field.next_date",
    }
    channel: FollowUpChannel
    note: str = Field(default="", max_length=2000)
    next_date: date | None = None


class MoveForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "status": "leads.field.status",
        "reason": "leads.field.reason",
    }
    status: LeadStatus
    reason: str = Field(default="", max_length=200)


@router.get("/leads")
def leads_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    view: Literal["pool", "mine", "all"] = "mine",
) -> Response:
    manager = allows(principal.role, Permission.leads_manage)
    with db.session_scope() as session:
        page = service.list_leads(session, principal, view=view, limit=200)
        report = service.sales_report(session, principal.workspace_id) if manager else []
        notices = service.list_notices(session, principal)[:20]
    return render(
        request,
        "leads.html",
        {
            "active": "leads",
            "view": view if view != "all" or manager else "mine",
            "page": page,
            "report": report,
            "notices": notices,
            "manager": manager,
        },
    )


@router.post("/leads/score")
def score_now(request: Request, principal: Manager, db: DatabaseDep) -> Response:
    try:
        with db.session_scope() as session:
            service.score_now(session, principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#leads-msg")
    return RedirectResponse("/leads?view=all", status_code=303)


@router.get("/leads/{lead_id}")
def lead_page(request: Request, lead_id: Id, principal: Reader, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        detail = service.get_lead(session, principal, lead_id)
    mine = detail.lead.owner_id == principal.operator_id
    manager = allows(principal.role, Permission.leads_manage)
    return render(
        request,
        "lead.html",
        {
            "active": "leads",
            "detail": detail,
            "lead": detail.lead,
            "can_work": (mine or manager)
            and detail.lead.status in ("new", "contacted", "qualified"),
            "can_claim": detail.lead.owner_id is None
            and allows(principal.role, Permission.leads_claim),
            "channels": list(FollowUpChannel),
            "statuses": [s for s in LeadStatus if s != LeadStatus.new],
        },
    )


@router.post("/leads/{lead_id}/claim")
def claim(request: Request, lead_id: Id, principal: Claimer, db: DatabaseDep) -> Response:
    try:
        with db.session_scope() as session:
            service.claim_lead(session, principal, lead_id)
    except SiyuError as exc:
        return error_response(request, exc, target="#lead-msg")
    return RedirectResponse(f"/leads/{lead_id}", status_code=303)


@router.post("/leads/{lead_id}/follow-ups")
def follow_up(
    request: Request, lead_id: Id, principal: Claimer, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        form = parse_form(posted, FollowUpForm, tr)
        nxt = (
            datetime.combine(form.next_date, FOLLOW_UP_HOUR, tzinfo=BEIJING)
            if form.next_date
            else None
        )
        data = form.build(FollowUpIn, tr, channel=form.channel, note=form.note,
                          next_follow_up_at=nxt)  # fmt: skip
        with db.session_scope() as session:
            service.record_follow_up(session, principal, lead_id, data)
    except SiyuError as exc:
        return error_response(request, exc, target="#lead-msg")
    return RedirectResponse(f"/leads/{lead_id}", status_code=303)


@router.post("/leads/{lead_id}/status")
def move(
    request: Request, lead_id: Id, principal: Claimer, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        form = parse_form(posted, MoveForm, tr)
        data = form.build(LeadMove, tr, status=form.status, reason=form.reason or None)
        with db.session_scope() as session:
            service.move_lead(session, principal, lead_id, data)
    except SiyuError as exc:
        return error_response(request, exc, target="#lead-msg")
    return RedirectResponse(f"/leads/{lead_id}", status_code=303)
