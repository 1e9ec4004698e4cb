"""Sales leads' API under /api/audience/leads: the pool and one's own leads, claiming,
follow-ups, the pipeline, notices; for managers scoring rules, the policy, assigning, scoring
now and the report. A salesperson sees only their leads and the pool."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from siyu.audience.enums import LeadStatus
from siyu.audience.schemas import (
    FollowUpIn,
    FollowUpRead,
    LeadAssign,
    LeadDetail,
    LeadMove,
    LeadNoticeRead,
    LeadPage,
    LeadRead,
    LeadRuleIn,
    LeadRuleRead,
    LeadSettingsIn,
    LeadSettingsRead,
    MemberScore,
    SalesReportRow,
    ScoringResult,
)
from siyu.audience.service import leads as service
from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number, Offset
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/leads", tags=["leads"])

Reader = Annotated[Principal, require(Permission.leads_read)]
Claimer = Annotated[Principal, require(Permission.leads_claim)]
Manager = Annotated[Principal, require(Permission.leads_manage)]


@router.get("")
def list_leads(  # noqa: PLR0917 - FastAPI passes each query parameter
    principal: Reader,
    db: DatabaseDep,
    view: Literal["pool", "mine", "all"] = "mine",
    status: LeadStatus | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LeadPage:
    """The pool (公海), one's own leads, or every lead (with `leads.manage`)."""
    with db.session_scope() as session:
        return service.list_leads(
            session, principal, view=view, status=status, offset=offset, limit=limit
        )


@router.get("/rules")
def list_rules(principal: Manager, db: DatabaseDep) -> list[LeadRuleRead]:
    with db.session_scope() as session:
        return service.list_rules(session, principal.workspace_id)


@router.post("/rules", status_code=201)
def create_rule(body: LeadRuleIn, principal: Manager, db: DatabaseDep) -> LeadRuleRead:
    with db.session_scope() as session:
        return service.save_rule(session, principal, body)


@router.put("/rules/{rule_id}")
def update_rule(rule_id: Id, body: LeadRuleIn, principal: Manager, db: DatabaseDep) -> LeadRuleRead:
    with db.session_scope() as session:
        return service.save_rule(session, principal, body, rule_id)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        service.delete_rule(session, principal, rule_id)
    return Response(status_code=204)


@router.get("/settings")
def get_settings(principal: Manager, db: DatabaseDep) -> LeadSettingsRead:
    with db.session_scope() as session:
        return service.get_settings(session, principal.workspace_id)


@router.put("/settings")
def save_settings(body: LeadSettingsIn, principal: Manager, db: DatabaseDep) -> LeadSettingsRead:
    with db.session_scope() as session:
        return service.save_settings(session, principal, body)


@router.post("/score")
def score(principal: Manager, db: DatabaseDep) -> ScoringResult:
    """Score the workspace now (the job does it each minute after events, and nightly)."""
    with db.session_scope() as session:
        return service.score_now(session, principal)


@router.get("/scores/{number}")
def member_score(number: Number, principal: Manager, db: DatabaseDep) -> MemberScore:
    """A member's score by member number (学号), with the rules it came from."""
    with db.session_scope() as session:
        return service.member_score(session, principal.workspace_id, number)


@router.get("/report")
def report(principal: Manager, db: DatabaseDep) -> list[SalesReportRow]:
    with db.session_scope() as session:
        return service.sales_report(session, principal.workspace_id)


@router.get("/notices")
def notices(principal: Reader, db: DatabaseDep) -> list[LeadNoticeRead]:
    """One's reminders, reclaim warnings and assignments, newest first."""
    with db.session_scope() as session:
        return service.list_notices(session, principal)


@router.get("/{lead_id}")
def get_lead(lead_id: Id, principal: Reader, db: DatabaseDep) -> LeadDetail:
    with db.session_scope() as session:
        return service.get_lead(session, principal, lead_id)


@router.post("/{lead_id}/claim")
def claim(lead_id: Id, principal: Claimer, db: DatabaseDep) -> LeadRead:
    with db.session_scope() as session:
        return service.claim_lead(session, principal, lead_id)


@router.post("/{lead_id}/assign")
def assign(lead_id: Id, body: LeadAssign, principal: Manager, db: DatabaseDep) -> LeadRead:
    with db.session_scope() as session:
        return service.assign_lead(session, principal, lead_id, body)


@router.post("/{lead_id}/follow-ups", status_code=201)
def follow_up(lead_id: Id, body: FollowUpIn, principal: Claimer, db: DatabaseDep) -> FollowUpRead:
    with db.session_scope() as session:
        return service.record_follow_up(session, principal, lead_id, body)


@router.post("/{lead_id}/status")
def move(lead_id: Id, body: LeadMove, principal: Claimer, db: DatabaseDep) -> LeadRead:
    with db.session_scope() as session:
        return service.move_lead(session, principal, lead_id, body)
