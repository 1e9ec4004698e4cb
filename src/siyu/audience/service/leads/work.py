"""Working leads: the pool (公海) and one's own, claiming under a daily cap, assigning,
follow-ups (call, WeChat, visit) with their next date, the pipeline new → contacted →
qualified → won / lost, the policy, and the report per salesperson."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from sqlalchemy.orm import Session

from siyu.audience import errors
from siyu.audience import leads_repository as repo
from siyu.audience.enums import LeadNoticeKind, LeadStatus
from siyu.audience.models import LeadFollowUp
from siyu.audience.schemas import (
    FollowUpIn,
    FollowUpRead,
    LeadAssign,
    LeadDetail,
    LeadMove,
    LeadNoticeRead,
    LeadPage,
    LeadRead,
    LeadSettingsIn,
    LeadSettingsRead,
    SalesReportRow,
)
from siyu.audience.service.leads import assignment
from siyu.audience.service.leads.common import (
    ensure_settings,
    manages,
    present,
    settings_of,
    visible_lead,
    worked_lead,
)
from siyu.audience.service.segments import get_segment
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal

View = Literal["pool", "mine", "all"]
CONTACT_WITHIN = timedelta(hours=24)
MOVES: dict[LeadStatus, frozenset[LeadStatus]] = {
    LeadStatus.new: frozenset(
        {LeadStatus.contacted, LeadStatus.qualified, LeadStatus.won, LeadStatus.lost}
    ),
    LeadStatus.contacted: frozenset({LeadStatus.qualified, LeadStatus.won, LeadStatus.lost}),
    LeadStatus.qualified: frozenset({LeadStatus.won, LeadStatus.lost}),
    LeadStatus.won: frozenset(),
    LeadStatus.lost: frozenset(),
}


# --- the policy -------------------------------------------------------------------------------


def get_settings(session: Session, workspace_id: int) -> LeadSettingsRead:
    return LeadSettingsRead.model_validate(settings_of(session, workspace_id))


def save_settings(session: Session, actor: Principal, data: LeadSettingsIn) -> LeadSettingsRead:
    """Save the threshold, cap, reclaiming, assignment and what wins a lead; the assignees
    and routed salespeople must be able to take leads, the routed segments must exist."""
    workspace_id = actor.workspace_id
    able = assignment.takers(session, workspace_id)
    named = set(data.assignees) | {i for r in data.segment_routes for i in r.operator_ids}
    for operator_id in sorted(named - able):
        raise errors.LEAD_ASSIGNEE_INVALID(
            f"operator {operator_id} cannot take leads", operator_id=operator_id
        )
    for route in data.segment_routes:
        get_segment(session, workspace_id, route.segment_id)
    current = get_settings(session, workspace_id)
    if (
        LeadSettingsIn.model_validate(current.model_dump(include=set(LeadSettingsIn.model_fields)))
        == data
    ):
        return current  # the same settings again: nothing to store or audit
    row = ensure_settings(session, workspace_id, actor.actor, lock=True)
    values = data.model_dump()
    values["won_references"] = [r.strip() for r in data.won_references if r.strip()]
    for key, value in values.items():
        setattr(row, key, value)
    row.scores_stale = True
    row.updated_by, row.updated_at = actor.actor, clock.now()
    session.flush()
    security.record_audit(
        session,
        actor,
        "audience.lead_settings_saved",
        target_type="workspace",
        target_id=workspace_id,
        detail={
            "threshold": data.threshold,
            "daily_claim_cap": data.daily_claim_cap,
            "reclaim_days": data.reclaim_days,
            "assignment": data.assignment.value,
        },
    )
    return LeadSettingsRead.model_validate(row)


# --- reading ----------------------------------------------------------------------------------


def list_leads(
    session: Session,
    principal: Principal,
    *,
    view: View = "mine",
    status: LeadStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> LeadPage:
    """The pool, one's own leads, or (with `leads.manage`) all of them; best scores first."""
    if view == "all" and not manages(principal):
        view = "mine"
    owner = principal.operator_id if view == "mine" else None
    pool = view == "pool"
    limit = min(max(limit, 1), 200)
    ws = principal.workspace_id
    rows = repo.list_leads(
        session, ws, owner_id=owner, pool=pool, status=status, offset=offset, limit=limit + 1
    )
    return LeadPage(
        items=present(session, rows[:limit]),
        total=repo.count_leads(session, ws, owner_id=owner, pool=pool, status=status),
        offset=offset,
        more=len(rows) > limit,
    )


def get_lead(session: Session, principal: Principal, lead_id: int) -> LeadDetail:
    """One lead's page: its reasons, follow-ups (newest first) and the member's tags."""
    lead = visible_lead(session, principal, lead_id)
    return LeadDetail(
        lead=present(session, [lead], names=True)[0],
        follow_ups=[FollowUpRead.model_validate(f) for f in repo.list_follow_ups(session, lead.id)],
        tags=identity.member_tags(session, lead.member_id),
    )


def list_notices(session: Session, principal: Principal) -> list[LeadNoticeRead]:
    return [
        LeadNoticeRead.model_validate(n)
        for n in repo.list_notices(session, principal.workspace_id, principal.operator_id)
    ]


# --- claiming and assigning -------------------------------------------------------------------


def claim_lead(session: Session, principal: Principal, lead_id: int) -> LeadRead:
    """Take a lead from the pool, within the daily cap (Beijing day): the day's counter is
    raised by a conditional update before the lead is taken by another, so concurrent claims
    never pass the cap; a refused claim writes nothing (the transaction rolls back)."""
    visible_lead(session, principal, lead_id)
    ws = principal.workspace_id
    settings = settings_of(session, ws)
    now = clock.now()
    day = now.astimezone(BEIJING).date()
    cap = settings.daily_claim_cap
    if not repo.take_claim_slot(session, ws, principal.operator_id, day, cap):
        raise errors.CLAIM_CAP_REACHED(f"{cap} leads claimed today, the daily cap", cap=cap)
    if not repo.take_lead(session, ws, lead_id, principal.operator_id, now):
        raise errors.LEAD_TAKEN(f"lead {lead_id} is no longer in the pool")
    lead = worked_lead(session, principal, lead_id)
    repo.reload(session, lead)
    security.record_audit(
        session,
        principal,
        "audience.lead_claimed",
        target_type="lead",
        target_id=lead_id,
        detail={"member_id": lead.member_id},
    )
    return present(session, [lead])[0]


def assign_lead(session: Session, actor: Principal, lead_id: int, data: LeadAssign) -> LeadRead:
    """A manager gives an open lead to a salesperson, or puts it back in the pool (None)."""
    lead = worked_lead(session, actor, lead_id)
    if lead.status not in (LeadStatus.new, LeadStatus.contacted, LeadStatus.qualified):
        raise errors.LEAD_TAKEN(f"lead {lead_id} is closed")
    if data.operator_id is not None and data.operator_id not in assignment.takers(
        session, actor.workspace_id
    ):
        raise errors.LEAD_ASSIGNEE_INVALID(
            f"operator {data.operator_id} cannot take leads", operator_id=data.operator_id
        )
    now = clock.now()
    previous = lead.owner_id
    lead.owner_id = data.operator_id
    lead.assigned_at = now if data.operator_id is not None else None
    lead.warned_at = lead.reminded_at = None
    lead.updated_at = now
    session.flush()
    if data.operator_id is not None:
        repo.add_notices(
            session,
            [
                {
                    "workspace_id": actor.workspace_id,
                    "operator_id": data.operator_id,
                    "lead_id": lead.id,
                    "member_id": lead.member_id,
                    "kind": LeadNoticeKind.assigned,
                    "due_at": now,
                    "created_at": now,
                }
            ],
        )
    security.record_audit(
        session,
        actor,
        "audience.lead_assigned",
        target_type="lead",
        target_id=lead.id,
        detail={"from": previous, "to": data.operator_id},
    )
    return present(session, [lead])[0]


# --- follow-ups and the pipeline --------------------------------------------------------------


def record_follow_up(
    session: Session, principal: Principal, lead_id: int, data: FollowUpIn
) -> FollowUpRead:
    """A call, WeChat conversation or visit on one's lead: its note (encrypted), the next
    date (a reminder then); a new lead becomes contacted; the reclaim clock starts again."""
    lead = worked_lead(session, principal, lead_id)
    if lead.status in (LeadStatus.won, LeadStatus.lost):
        raise errors.LEAD_TAKEN(f"lead {lead_id} is closed")
    now = clock.now()
    row = LeadFollowUp(
        lead_id=lead.id,
        member_id=lead.member_id,
        operator_id=principal.operator_id,
        channel=data.channel,
        note=data.note.strip() or None,
        next_follow_up_at=data.next_follow_up_at,
        created_at=now,
    )
    repo.add(session, row)
    lead.last_follow_up_at = now
    lead.first_contact_at = lead.first_contact_at or now
    lead.next_follow_up_at = data.next_follow_up_at
    lead.warned_at = lead.reminded_at = None
    if lead.status == LeadStatus.new:
        lead.status = LeadStatus.contacted
    lead.updated_at = now
    session.flush()
    security.record_audit(
        session,
        principal,
        "audience.lead_followed_up",
        target_type="lead",
        target_id=lead.id,
        detail={"channel": data.channel.value, "next": bool(data.next_follow_up_at)},
    )
    return FollowUpRead.model_validate(row)


def move_lead(session: Session, principal: Principal, lead_id: int, data: LeadMove) -> LeadRead:
    """Move one's lead along the pipeline; lost needs a reason; won and lost are final."""
    lead = worked_lead(session, principal, lead_id)
    current = LeadStatus(lead.status)
    if data.status not in MOVES[current]:
        raise errors.LEAD_BAD_TRANSITION(
            f"a lead cannot go from {current.value} to {data.status.value}",
            current=current.value,
            wanted=data.status.value,
        )
    reason = (data.reason or "").strip()
    if data.status == LeadStatus.lost and not reason:
        raise errors.LEAD_LOST_REASON("a lost lead needs a reason")
    now = clock.now()
    lead.status = data.status
    if data.status in (LeadStatus.won, LeadStatus.lost):
        lead.closed_at = now
        lead.next_follow_up_at = None
    if data.status == LeadStatus.won:
        lead.won_at = now
    if data.status == LeadStatus.lost:
        lead.lost_reason = reason
    if data.status == LeadStatus.contacted and lead.first_contact_at is None:
        lead.first_contact_at = now
    lead.updated_at = now
    session.flush()
    security.record_audit(
        session,
        principal,
        "audience.lead_moved",
        target_type="lead",
        target_id=lead.id,
        detail={"from": current.value, "to": data.status.value},
    )
    return present(session, [lead])[0]


# --- the report -------------------------------------------------------------------------------


def sales_report(session: Session, workspace_id: int) -> list[SalesReportRow]:
    """Per salesperson: their leads, how many they contacted within 24 hours of getting them,
    won, lost, and conversion (won / leads). Everyone who may take leads has a row."""
    rows: dict[int, list[int]] = {i: [0, 0, 0, 0] for i in assignment.takers(session, workspace_id)}
    for owner, assigned, first, status in repo.report_rows(session, workspace_id):
        counts = rows.setdefault(owner, [0, 0, 0, 0])
        counts[0] += 1
        if assigned is not None and first is not None and first - assigned <= CONTACT_WITHIN:
            counts[1] += 1
        counts[2] += status == LeadStatus.won
        counts[3] += status == LeadStatus.lost
    names = {o.id: o.name for o in security.list_operators(session, workspace_id)}
    return [
        SalesReportRow(
            operator_id=operator_id,
            name=names.get(operator_id, str(operator_id)),
            leads=leads,
            contacted_within_24h=contacted,
            won=won,
            lost=lost,
            conversion=round(won / leads, 4) if leads else 0.0,
        )
        for operator_id, (leads, contacted, won, lost) in sorted(
            rows.items(), key=lambda item: (-item[1][0], item[0])
        )
    ]
